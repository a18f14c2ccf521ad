import { BootkeyError } from '../errors.js';
import type { MenuOptions } from '../grub/grub-menu.js';

/**
 * The user's menu choices, kept on the key at SETTINGS_PATH so every regeneration (after add or remove, on
 * another machine) keeps them. What boots is never stored here: the menu comes from inspecting the ISOs.
 */
export const SETTINGS_PATH = '/.bootkey/multiboot.json';
export const GRUB_CFG_PATH = '/boot/grub/grub.cfg';

export interface MultibootSettings {
  version: 1;
  timeoutSeconds: number;
  defaultName?: string;
  serial?: { unit: number; speed: number };
  /** Per ISO file name: its title and extra kernel parameters. */
  isos: Record<string, { title?: string; extraParams?: string }>;
  /** ISO file names in the order their entries appear; ISOs not named here follow, by name. */
  order?: string[];
}

export function defaultSettings(): MultibootSettings {
  return { version: 1, timeoutSeconds: 10, isos: {} };
}

const isWhole = (v: unknown, min: number, max: number): v is number => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;

export function parseSettings(text: string): MultibootSettings {
  const damaged = (why: string) => new BootkeyError('MALFORMED_IMAGE', `the key's ${SETTINGS_PATH} is damaged: ${why}`, { path: SETTINGS_PATH });
  let raw: Partial<MultibootSettings>;
  try {
    raw = JSON.parse(text) as Partial<MultibootSettings>;
  } catch {
    throw damaged('not JSON');
  }
  if (typeof raw !== 'object' || raw === null || raw.version !== 1) throw damaged('expected version 1');
  if (!isWhole(raw.timeoutSeconds, -1, 3600)) throw damaged('timeoutSeconds');
  if (raw.defaultName !== undefined && typeof raw.defaultName !== 'string') throw damaged('defaultName');
  if (raw.serial !== undefined && !(isWhole(raw.serial?.unit, 0, 3) && isWhole(raw.serial?.speed, 300, 921600))) throw damaged('serial');
  if (typeof raw.isos !== 'object' || raw.isos === null) throw damaged('isos');
  if (raw.order !== undefined && !(Array.isArray(raw.order) && raw.order.every((n) => typeof n === 'string'))) throw damaged('order');
  for (const [name, iso] of Object.entries(raw.isos)) {
    const ok = typeof iso === 'object' && iso !== null && (iso.title === undefined || typeof iso.title === 'string')
      && (iso.extraParams === undefined || typeof iso.extraParams === 'string');
    if (!ok) throw damaged(`entry for ${JSON.stringify(name)}`);
  }
  return raw as MultibootSettings;
}

export function serializeSettings(settings: MultibootSettings): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(settings, null, 2)}\n`);
}

export function menuOptionsOf(settings: MultibootSettings): MenuOptions {
  return { timeoutSeconds: settings.timeoutSeconds, defaultName: settings.defaultName, serial: settings.serial, order: settings.order };
}
