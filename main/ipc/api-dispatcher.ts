/**
 * The contract's methods bound to the services, independent of transport: Electron IPC (main/ipc/ipc-bridge.ts)
 * and the web test host (main/web) both hand it untrusted (method, args) pairs and get Result envelopes back.
 * Arguments are validated here, once, with the contract's validators; errors become envelopes with their code.
 */
import {
  isMethodName,
  VALIDATE_ARGS,
  validationError,
  type ApiError,
  type ApiResult,
  type BootkeyEvents,
  type DetailValue,
  type DriveDto,
  type EventName,
  type FeatureId,
  type MethodArgs,
  type MethodName,
  type MethodValue,
} from '../../preload/contract.js';
import { BootkeyError } from '../core/errors.js';
import type { DiskProvider } from '../ports/disk-provider.js';
import type { DriveService } from '../services/drives.js';
import { driveDto } from './drive-dto.js';

export interface ApiServices {
  version: string;
  host: 'electron' | 'web';
  /** For change events; everything else goes through the drives service. */
  disks: DiskProvider;
  drives: DriveService;
  /** Told when a long job starts and ends (the desktop app inhibits suspend and shows progress). */
  jobs?: JobObserver;
}

export interface JobObserver {
  started(title: string): void;
  finished(title: string, outcome: 'done' | 'failed'): void;
}

type Handlers = { [M in MethodName]: (...args: MethodArgs<M>) => Promise<MethodValue<M>> };
export type EventListener = <E extends EventName>(event: E, payload: BootkeyEvents[E]) => void;

/** Services that are not part of this build yet; the UI shows their actions as unavailable. */
const FEATURES: Record<FeatureId, boolean> = { copyEfi: false, multiIso: false, persistence: false };

export class ApiDispatcher {
  readonly #handlers: Handlers;

  constructor(private readonly services: ApiServices) {
    this.#handlers = {
      getAppInfo: async () => ({ version: services.version, host: services.host, features: { ...FEATURES } }),
      listDrives: () => this.#drives(),
      getDrive: async (id) => findDrive(await this.#drives(), id),
      eraseDrive: async ({ driveId, confirmed, label }) => {
        const chosen = findDrive(await this.#drives(), driveId); // DEVICE_GONE before anything else
        if (chosen.device !== confirmed.device) {
          throw new BootkeyError('TARGET_CHANGED', `${confirmed.device} is not the drive you chose`, { device: confirmed.device });
        }
        const title = `Erasing ${chosen.vendor} ${chosen.model}`.trim();
        services.jobs?.started(title);
        try {
          await services.drives.prepareKey(confirmed, { table: 'dos', filesystem: 'vfat', label });
        } catch (error) {
          services.jobs?.finished(title, 'failed');
          throw error;
        }
        services.jobs?.finished(title, 'done');
        return findDrive(await this.#drives(), driveId);
      },
    };
  }

  async #drives(): Promise<DriveDto[]> {
    return (await this.services.drives.list({ all: true })).map(driveDto);
  }

  /** Runs one call from an untrusted caller: unknown methods and bad arguments give INVALID_ARGUMENT. */
  async call(method: unknown, args: unknown): Promise<ApiResult<unknown>> {
    if (!isMethodName(method)) return validationError(`unknown method ${JSON.stringify(method)}`);
    if (!Array.isArray(args)) return validationError('arguments must be an array');
    const problem = VALIDATE_ARGS[method](args);
    if (problem !== undefined) return validationError(`${method}: ${problem}`);
    const handler = this.#handlers[method] as (...a: unknown[]) => Promise<unknown>;
    try {
      return { ok: true, value: await handler(...args) };
    } catch (error) {
      return { ok: false, error: toApiError(error) };
    }
  }

  /** Forwards service events to one front end; returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void {
    let previous = Promise.resolve(); // in order, even when one listing takes longer than the next
    return this.services.disks.onChange(() => {
      previous = previous.then(async () => listener('drivesChanged', await this.#drives())).catch(() => undefined);
    });
  }
}

function findDrive(drives: DriveDto[], id: string): DriveDto {
  const drive = drives.find((d) => d.id === id);
  if (!drive) throw new BootkeyError('DEVICE_GONE', 'That drive is no longer connected.', { id });
  return drive;
}

export function toApiError(error: unknown): ApiError {
  if (error instanceof BootkeyError) {
    const details = Object.fromEntries(
      Object.entries(error.details ?? {}).filter((entry): entry is [string, DetailValue] => isDetailValue(entry[1])),
    );
    return { code: error.code, message: error.message, ...(Object.keys(details).length ? { details } : {}) };
  }
  const text = error instanceof Error ? error.message : String(error);
  return { code: 'INTERNAL', message: `Bootkey hit an internal error: ${text}` };
}

function isDetailValue(value: unknown): value is DetailValue {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}
