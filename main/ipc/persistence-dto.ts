/**
 * The contract's view of LiveOS persistence: the persistence service's files and usages as plain DTOs, with
 * key paths (`/LiveOS/…`, `/isos/…`) in place of host paths (the page never needs to know where a key is mounted).
 */
import type {
  LiveInstallationDto, MergePersistenceDto, PersistenceFileDto, PersistenceUsageDto, RecoverPersistenceDto,
} from '../../preload/contract.js';
import { ISO_DIR } from '../core/grub/grub-menu.js';
import { dmStatusText } from '../core/persistence/dm-snapshot.js';
import type { OverlayUsage } from '../core/persistence/overlay-status.js';
import { LIVE_DIR } from '../core/persistence/persistence-plan.js';
import type { LiveInstallation, MergeResult, PersistenceFile, RecoverResult } from '../services/persistence.js';

const baseName = (path: string) => path.slice(path.lastIndexOf('/') + 1);

export function usageDto(usage: OverlayUsage): PersistenceUsageDto {
  const { usedBytes, capacityBytes, percentUsed } = usage;
  if (usage.type === 'dm-snapshot') {
    return { kind: usage.type, state: usage.state, usedBytes, capacityBytes, percentUsed, changedChunks: usage.exceptions, dmStatus: dmStatusText(usage) };
  }
  return { kind: usage.type, state: usage.valid ? 'valid' : 'invalid', usedBytes, capacityBytes, percentUsed, clean: usage.clean };
}

export function persistenceFileDto(file: PersistenceFile): PersistenceFileDto {
  return {
    name: file.name,
    keyPath: file.keyPath,
    role: file.role,
    matchesKey: file.matchesKey,
    sizeBytes: file.sizeBytes,
    encrypted: file.luks !== undefined,
    luks: file.luks ? { version: file.luks.version, cipher: file.luks.cipher, dataBytes: file.luks.dataBytes, unfinished: file.luks.unfinished } : null,
    usage: file.usage ? usageDto(file.usage) : null,
    problem: file.problem ?? null,
    kernel: file.kernel ?? [],
    kernelProblem: file.kernelProblem ?? null,
    ...(file.kernelParams ? { kernelParams: file.kernelParams } : {}),
    ...(file.bootEntries ? { bootEntries: file.bootEntries } : {}),
    ...(file.bootProblem ? { bootProblem: file.bootProblem } : {}),
  };
}

export function liveInstallationDto(found: LiveInstallation): LiveInstallationDto {
  return {
    dir: found.kind === 'iso' ? ISO_DIR : `/${LIVE_DIR}`,
    kind: found.kind,
    iso: found.iso?.name ?? null,
    squashfs: found.squashfs,
    rootfs: found.rootfs,
    files: found.files.map(persistenceFileDto),
  };
}

/** `after`: the file as listed after the change. */
export function recoverDto(result: RecoverResult, after: PersistenceFile): RecoverPersistenceDto {
  return {
    file: persistenceFileDto(after),
    backup: `${after.keyPath.slice(0, after.keyPath.lastIndexOf('/'))}/${baseName(result.backup)}`,
    before: usageDto(result.before),
    fsckExitCode: result.fsck?.exitCode ?? null,
    overlayVerdict: result.overlayCheck && 'verdict' in result.overlayCheck ? result.overlayCheck.verdict : null,
    overlayNotChecked: result.overlayCheck && 'notChecked' in result.overlayCheck ? result.overlayCheck.notChecked : null,
  };
}

export function mergeDto(result: MergeResult, after: PersistenceFile): MergePersistenceDto {
  return {
    file: persistenceFileDto(after),
    changedChunks: result.exceptions,
    fsckExitCode: result.fsck.exitCode,
    oldSquashfsBytes: result.oldSquashfsBytes,
    newSquashfsBytes: result.newSquashfsBytes,
    rootfsSha256: result.rootfsSha256,
  };
}
