/** The copy-EFI panel's state and its pure reducer: choose → plan → confirm → progress → result, and undo. */
import type {
  ApiError, CopyEfiPlanDto, CopyEfiResultDto, ImageInfoDto, JobProgressDto, UndoEfiDto,
} from '../preload/contract.js';

export type CopyEfiStep =
  | { kind: 'idle' }
  | { kind: 'working'; what: string }
  | { kind: 'planned'; image: ImageInfoDto; plan: CopyEfiPlanDto; replace: boolean }
  | { kind: 'running'; image: ImageInfoDto; jobId: string; progress: JobProgressDto | null }
  | { kind: 'done'; result: CopyEfiResultDto }
  | { kind: 'undone'; undo: UndoEfiDto };

export interface CopyEfiState {
  step: CopyEfiStep;
  error: ApiError | null;
}

export type CopyEfiAction =
  | { type: 'working'; what: string }
  | { type: 'planned'; image: ImageInfoDto; plan: CopyEfiPlanDto; replace: boolean }
  | { type: 'running'; image: ImageInfoDto; jobId: string }
  | { type: 'progress'; progress: JobProgressDto }
  | { type: 'done'; result: CopyEfiResultDto }
  | { type: 'undone'; undo: UndoEfiDto }
  | { type: 'failed'; error: ApiError }
  | { type: 'cancel' }
  | { type: 'dismiss' };

export const initialCopyEfiState: CopyEfiState = { step: { kind: 'idle' }, error: null };

export function isBusy(state: CopyEfiState): boolean {
  return state.step.kind === 'working' || state.step.kind === 'running';
}

export function reduceCopyEfi(state: CopyEfiState, action: CopyEfiAction): CopyEfiState {
  switch (action.type) {
    case 'working':
      return { step: { kind: 'working', what: action.what }, error: null };
    case 'planned':
      return { step: { kind: 'planned', image: action.image, plan: action.plan, replace: action.replace }, error: null };
    case 'running':
      return { step: { kind: 'running', image: action.image, jobId: action.jobId, progress: null }, error: null };
    case 'progress': {
      // events of another job (another panel, an earlier run) never move this one's bar
      const { step } = state;
      if (step.kind !== 'running' || step.jobId !== action.progress.jobId) return state;
      return { ...state, step: { ...step, progress: action.progress } };
    }
    case 'done':
      return { step: { kind: 'done', result: action.result }, error: null };
    case 'undone':
      return { step: { kind: 'undone', undo: action.undo }, error: null };
    case 'failed':
      return { step: { kind: 'idle' }, error: action.error };
    case 'cancel':
      return isBusy(state) ? state : { step: { kind: 'idle' }, error: null };
    case 'dismiss':
      return { ...state, error: null };
  }
}
