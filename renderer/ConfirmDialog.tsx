import { useEffect, useRef, type ReactNode } from 'react';

interface Props {
  title: string;
  /** The words of the button that goes ahead. */
  confirmLabel: string;
  /** Loses data: the button is red. */
  danger: boolean;
  onCancel(): void;
  onConfirm(): void;
  /** What happens and what is lost, in words. */
  children: ReactNode;
}

/**
 * A confirmation before an action on a key's files: a modal <dialog>, focus on Cancel first, Escape cancels,
 * and nothing is sent to Bootkey until the confirm button is pressed.
 */
export function ConfirmDialog({ title, confirmLabel, danger, onCancel, onConfirm, children }: Props) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const element = dialog.current;
    element?.showModal();
    return () => element?.close();
  }, []);
  return (
    <dialog
      ref={dialog}
      className="confirm"
      aria-labelledby="confirm-action-title"
      aria-describedby="confirm-action-what"
      onCancel={(event) => {
        event.preventDefault();
        onCancel();
      }}
    >
      <h2 id="confirm-action-title">{title}</h2>
      <div id="confirm-action-what">{children}</div>
      <div className="dialog-buttons">
        <button type="button" className="secondary" autoFocus onClick={onCancel}>
          Cancel
        </button>
        <button type="button" className={danger ? 'danger' : 'primary'} onClick={onConfirm}>
          {confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
