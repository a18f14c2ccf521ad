import { useId, useState, type DragEvent, type ReactNode } from 'react';

interface Props {
  /** The button's words. */
  label: string;
  accept: string;
  multiple: boolean;
  disabled: boolean;
  onFiles(files: File[]): void;
  children: ReactNode;
}

/** A drop area with a keyboard-operable file chooser in it; a drop here is not also a drop on the key view. */
export function FilePicker({ label, accept, multiple, disabled, onFiles, children }: Props) {
  const id = useId();
  const [over, setOver] = useState(false);
  const take = (event: DragEvent) => {
    event.preventDefault();
    event.stopPropagation();
    setOver(false);
    if (!disabled && event.dataTransfer.files.length > 0) onFiles([...event.dataTransfer.files]);
  };
  return (
    <div
      className={`drop-zone${over ? ' over' : ''}`}
      onDragOver={(event) => {
        event.preventDefault();
        event.stopPropagation();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={take}
    >
      {children}
      <label htmlFor={id} className={`button secondary${disabled ? ' disabled' : ''}`}>
        {label}
      </label>
      <input
        id={id}
        className="visually-hidden"
        type="file"
        accept={accept}
        multiple={multiple}
        disabled={disabled}
        onChange={(event) => {
          const files = [...(event.target.files ?? [])];
          event.target.value = '';
          if (files.length > 0) onFiles(files);
        }}
      />
    </div>
  );
}
