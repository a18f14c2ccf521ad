/** The UI's state and its pure reducer: every change of what is shown goes through `reduce`. */
import type { ApiError, AppInfoDto, DriveDto } from '../preload/contract.js';

export type Notice =
  | { kind: 'error'; error: ApiError }
  | { kind: 'done'; text: string }
  | { kind: 'info'; text: string };

export interface UiState {
  info: AppInfoDto | null;
  /** null until the first list arrived. */
  drives: DriveDto[] | null;
  selectedId: string | null;
  /** The drive the erase dialog is asking about, as it was when the dialog opened. */
  confirming: { drive: DriveDto; label: string } | null;
  busy: boolean;
  notice: Notice | null;
}

export type UiAction =
  | { type: 'info'; info: AppInfoDto }
  | { type: 'drives'; drives: DriveDto[] }
  | { type: 'select'; id: string }
  | { type: 'askErase'; label: string }
  | { type: 'cancelErase' }
  | { type: 'eraseStarted' }
  | { type: 'eraseDone'; drive: DriveDto }
  | { type: 'failed'; error: ApiError }
  | { type: 'dismissNotice' };

export const initialState: UiState = { info: null, drives: null, selectedId: null, confirming: null, busy: false, notice: null };

export function selectedDrive(state: UiState): DriveDto | undefined {
  return state.drives?.find((d) => d.id === state.selectedId);
}

export function driveName(drive: DriveDto): string {
  return [drive.vendor, drive.model].filter((part) => part.trim()).join(' ') || drive.device;
}

export function reduce(state: UiState, action: UiAction): UiState {
  switch (action.type) {
    case 'info':
      return { ...state, info: action.info };
    case 'drives': {
      const stillThere = action.drives.some((d) => d.id === state.selectedId);
      if (state.selectedId === null || stillThere) return { ...state, drives: action.drives };
      const gone = state.drives?.find((d) => d.id === state.selectedId);
      return {
        ...state,
        drives: action.drives,
        selectedId: null,
        confirming: null,
        notice: { kind: 'info', text: `${gone ? driveName(gone) : 'The selected drive'} was removed.` },
      };
    }
    case 'select':
      return { ...state, selectedId: action.id, notice: null };
    case 'askErase': {
      const drive = selectedDrive(state);
      return drive ? { ...state, confirming: { drive, label: action.label }, notice: null } : state;
    }
    case 'cancelErase':
      return { ...state, confirming: null };
    case 'eraseStarted':
      return { ...state, confirming: null, busy: true };
    case 'eraseDone':
      return {
        ...state,
        busy: false,
        notice: { kind: 'done', text: `${driveName(action.drive)} now has one empty FAT32 partition.` },
      };
    case 'failed':
      return { ...state, busy: false, notice: { kind: 'error', error: action.error } };
    case 'dismissNotice':
      return { ...state, notice: null };
  }
}
