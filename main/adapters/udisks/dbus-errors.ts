import { BootkeyError, type ErrorCode } from '../../core/errors.js';

/** D-Bus error names (never message texts) → our codes. */
const BY_NAME: Record<string, ErrorCode> = {
  'org.freedesktop.UDisks2.Error.NotAuthorizedDismissed': 'AUTH_CANCELLED',
  'org.freedesktop.UDisks2.Error.NotAuthorizedCanObtain': 'AUTH_NO_AGENT',
  'org.freedesktop.UDisks2.Error.NotAuthorized': 'AUTH_DENIED',
  'org.freedesktop.UDisks2.Error.DeviceBusy': 'DRIVE_BUSY',
  'org.freedesktop.UDisks2.Error.NotMounted': 'NOT_MOUNTED',
  'org.freedesktop.UDisks2.Error.AlreadyMounted': 'CONFLICT',
  'org.freedesktop.UDisks2.Error.Cancelled': 'CANCELLED',
  'org.freedesktop.UDisks2.Error.Timedout': 'TIMEOUT',
  'org.freedesktop.UDisks2.Error.NotSupported': 'MISSING_TOOL',
  'org.freedesktop.UDisks2.Error.OptionNotPermitted': 'INVALID_ARGUMENT',
  'org.freedesktop.DBus.Error.UnknownObject': 'DEVICE_GONE',
  'org.freedesktop.DBus.Error.UnknownMethod': 'DEVICE_GONE',
  'org.freedesktop.DBus.Error.ServiceUnknown': 'MISSING_TOOL',
  'org.freedesktop.DBus.Error.NoReply': 'TIMEOUT',
  'org.freedesktop.DBus.Error.AccessDenied': 'AUTH_DENIED',
  'org.freedesktop.DBus.Error.InvalidArgs': 'INVALID_ARGUMENT',
};

/** A dbus-next DBusError (or anything else) as a BootkeyError; the D-Bus name and text stay in details. */
export function fromDbusError(error: unknown, action: string): BootkeyError {
  if (error instanceof BootkeyError) return error;
  const name = typeof error === 'object' && error && 'type' in error ? String(error.type) : '';
  const text = error instanceof Error ? error.message : String(error);
  const code = BY_NAME[name] ?? 'IO_ERROR';
  const what = name === 'org.freedesktop.DBus.Error.ServiceUnknown' ? 'udisks2 is not available (package udisks2)' : text;
  return new BootkeyError(code, `${action} failed: ${what}`, { dbusError: name });
}
