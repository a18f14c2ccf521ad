/*
 * bootkey-helper: the few steps of Bootkey that need root and that udisks cannot do.
 *
 * Installed at /usr/libexec/bootkey/bootkey-helper and run through pkexec (one polkit action per verb group,
 * resources/polkit). It trusts nothing it is given: it takes a closed set of verbs with fixed arguments, checks
 * the device again itself from sysfs, /proc/self/mountinfo, /proc/swaps and udev's database, runs programs by
 * absolute path with execve (never a shell) and a clean environment, and reports line-delimited JSON on stdout.
 *
 *   bootkey-helper check DEVICE SERIAL SIZE
 *   bootkey-helper install-grub-bios DEVICE SERIAL SIZE MOUNTPOINT
 *   bootkey-helper dm-status NAME
 *
 * DEVICE is a whole disk (/dev/sdb), SERIAL and SIZE (bytes) what the user confirmed, MOUNTPOINT the mounted
 * partition of DEVICE that receives /boot/grub. dm-status only reads: `dmsetup status` of one live system's
 * device-mapper device (dracut's live-rw, live-base, ...), so Bootkey can show the kernel's numbers for an overlay
 * in use beside its own.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Named exit codes; 126 and 127 are pkexec's (dismissed, not authorised). */
enum {
  EXIT_DONE = 0,
  EXIT_USAGE = 64,        /* unknown verb or malformed argument */
  EXIT_REFUSED = 65,      /* the device is not one Bootkey may write to */
  EXIT_CHANGED = 66,      /* serial or size differ from what the user confirmed */
  EXIT_TOOL_FAILED = 67,  /* the program we ran failed */
  EXIT_MISSING_TOOL = 68, /* the program is not installed */
  EXIT_INTERNAL = 69,
};

#define MAX_FAMILY 256
static const char *const SYSTEM_MOUNTS[] = {"/", "/boot", "/boot/efi", "/efi", "/home", "/usr", "/var", NULL};
static const char *const GRUB_INSTALL[] = {"/usr/sbin/grub-install", "/usr/sbin/grub2-install", NULL};
static const char *const DMSETUP[] = {"/usr/sbin/dmsetup", "/sbin/dmsetup", NULL};
#define DM_NAME_MAX 48

static void json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20 || c == 0x7f) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

/* {"event":"error","code":CODE,"message":...} and exit. */
static void fail(int status, const char *code, const char *format, ...) {
  char message[1024];
  va_list ap;
  va_start(ap, format);
  vsnprintf(message, sizeof message, format, ap);
  va_end(ap);
  printf("{\"event\":\"error\",\"code\":\"%s\",\"message\":", code);
  json_string(message);
  printf("}\n");
  fflush(stdout);
  exit(status);
}

static int read_line(const char *path, char *out, size_t size) {
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  if (!fgets(out, (int)size, f)) out[0] = '\0';
  fclose(f);
  /* One line, without the trailing blank dmsetup leaves after the last field. */
  size_t end = strcspn(out, "\n");
  while (end > 0 && out[end - 1] == ' ') end--;
  out[end] = '\0';
  return 0;
}

static int parse_u64(const char *s, unsigned long long *out) {
  if (!*s || strlen(s) > 19) return -1;
  for (const char *p = s; *p; p++)
    if (!isdigit((unsigned char)*p)) return -1;
  *out = strtoull(s, NULL, 10);
  return 0;
}

/* The dev_t in a sysfs "dev" file ("8:16"). */
static int read_devnum(const char *path, dev_t *out) {
  char line[64];
  unsigned int major_n, minor_n;
  if (read_line(path, line, sizeof line) != 0 || sscanf(line, "%u:%u", &major_n, &minor_n) != 2) return -1;
  *out = makedev(major_n, minor_n);
  return 0;
}

/* Every device that is this disk, one of its partitions, or something built on them (dm, md, loop). */
struct family {
  dev_t devs[MAX_FAMILY];
  int is_partition[MAX_FAMILY];
  int count;
};

static int in_family(const struct family *f, dev_t dev) {
  for (int i = 0; i < f->count; i++)
    if (f->devs[i] == dev) return 1;
  return 0;
}

static void add_holders(struct family *f, const char *name, int depth);

static void add_member(struct family *f, const char *name, int partition, int depth) {
  char path[PATH_MAX];
  dev_t dev;
  snprintf(path, sizeof path, "/sys/class/block/%s/dev", name);
  if (read_devnum(path, &dev) != 0 || in_family(f, dev)) return;
  if (f->count == MAX_FAMILY) fail(EXIT_REFUSED, "REFUSED", "too many devices depend on this disk");
  f->is_partition[f->count] = partition;
  f->devs[f->count++] = dev;
  add_holders(f, name, depth);
}

static void add_holders(struct family *f, const char *name, int depth) {
  char path[PATH_MAX];
  if (depth > 8) fail(EXIT_REFUSED, "REFUSED", "device stack too deep");
  snprintf(path, sizeof path, "/sys/class/block/%s/holders", name);
  DIR *dir = opendir(path);
  if (!dir) return;
  struct dirent *entry;
  while ((entry = readdir(dir)))
    if (entry->d_name[0] != '.') add_member(f, entry->d_name, 0, depth + 1);
  closedir(dir);
}

/* /proc/self/mountinfo and /proc/swaps escape blanks as \040. */
static void unescape(char *s) {
  char *out = s;
  for (char *in = s; *in; in++) {
    if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' && in[3] >= '0' && in[3] <= '7') {
      *out++ = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
      in += 3;
    } else {
      *out++ = *in;
    }
  }
  *out = '\0';
}

struct mount_entry {
  dev_t dev;
  char point[PATH_MAX];
};

/* Calls visit for each mount; stops when visit returns nonzero and returns that value. */
static int each_mount(int (*visit)(const struct mount_entry *, const void *), const void *data) {
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f) fail(EXIT_INTERNAL, "INTERNAL", "cannot read /proc/self/mountinfo: %s", strerror(errno));
  char line[8192];
  int result = 0;
  while (!result && fgets(line, sizeof line, f)) {
    unsigned int major_n, minor_n;
    char point[4096];
    if (sscanf(line, "%*s %*s %u:%u %*s %4095s", &major_n, &minor_n, point) != 3) continue;
    struct mount_entry m = {.dev = makedev(major_n, minor_n)};
    unescape(point);
    snprintf(m.point, sizeof m.point, "%s", point);
    result = visit(&m, data);
  }
  fclose(f);
  return result;
}

static int system_mount_on_family(const struct mount_entry *m, const void *data) {
  if (!in_family(data, m->dev)) return 0;
  for (int i = 0; SYSTEM_MOUNTS[i]; i++)
    if (strcmp(m->point, SYSTEM_MOUNTS[i]) == 0)
      fail(EXIT_REFUSED, "REFUSED", "the device holds the running system (mounted at %s)", m->point);
  return 0;
}

static void check_swaps(const struct family *f) {
  FILE *swaps = fopen("/proc/swaps", "re");
  if (!swaps) return; /* no swap support at all */
  char line[8192], path[4096];
  if (!fgets(line, sizeof line, swaps)) line[0] = '\0'; /* header */
  while (fgets(line, sizeof line, swaps)) {
    struct stat st;
    if (sscanf(line, "%4095s", path) != 1) continue;
    unescape(path);
    if (stat(path, &st) != 0) continue;
    if ((S_ISBLK(st.st_mode) && in_family(f, st.st_rdev)) || (!S_ISBLK(st.st_mode) && in_family(f, st.st_dev)))
      fail(EXIT_REFUSED, "REFUSED", "the device holds active swap space");
  }
  fclose(swaps);
}

/* udisks shows ID_SCSI_SERIAL or ID_SERIAL_SHORT from udev's database; either must equal the confirmed one. */
static int serial_matches(dev_t dev, const char *confirmed) {
  char path[64], line[1024];
  int found = 0;
  snprintf(path, sizeof path, "/run/udev/data/b%u:%u", major(dev), minor(dev));
  FILE *f = fopen(path, "re");
  if (!f) return confirmed[0] == '\0';
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    const char *value = NULL;
    if (strncmp(line, "E:ID_SCSI_SERIAL=", 17) == 0) value = line + 17;
    else if (strncmp(line, "E:ID_SERIAL_SHORT=", 18) == 0) value = line + 18;
    if (value) {
      found = 1;
      if (strcmp(value, confirmed) == 0) {
        fclose(f);
        return 1;
      }
    }
  }
  fclose(f);
  return !found && confirmed[0] == '\0';
}

struct target {
  char name[33];
  char sys[64]; /* /sys/class/block/<name> */
  dev_t dev;
  unsigned long long size;
  struct family family;
};

/* Every check of the device, from the kernel's and udev's own records. Exits on any failure. */
static void check_device(const char *device, const char *serial, const char *size_arg, struct target *t) {
  unsigned long long confirmed_size;
  if (strncmp(device, "/dev/", 5) != 0 || strlen(device + 5) == 0 || strlen(device + 5) > 32)
    fail(EXIT_USAGE, "USAGE", "DEVICE must be /dev/NAME");
  for (const char *p = device + 5; *p; p++)
    if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p))
      fail(EXIT_USAGE, "USAGE", "DEVICE must be /dev/ followed by lower-case letters and digits");
  if (parse_u64(size_arg, &confirmed_size) != 0) fail(EXIT_USAGE, "USAGE", "SIZE must be a number of bytes");
  if (strlen(serial) > 256) fail(EXIT_USAGE, "USAGE", "SERIAL is too long");
  snprintf(t->name, sizeof t->name, "%s", device + 5);

  struct stat st;
  if (lstat(device, &st) != 0) fail(EXIT_CHANGED, "CHANGED", "%s is not there", device);
  if (!S_ISBLK(st.st_mode)) fail(EXIT_REFUSED, "REFUSED", "%s is not a block device", device);
  t->dev = st.st_rdev;

  /* The kernel's name for this device number must be the name we were given (no mknod tricks). */
  char link[PATH_MAX], resolved[PATH_MAX];
  snprintf(link, sizeof link, "/sys/dev/block/%u:%u", major(t->dev), minor(t->dev));
  if (!realpath(link, resolved)) fail(EXIT_REFUSED, "REFUSED", "the kernel does not know %s", device);
  const char *base = strrchr(resolved, '/');
  if (!base || strcmp(base + 1, t->name) != 0) fail(EXIT_REFUSED, "REFUSED", "%s is not the kernel's %s", device, t->name);
  snprintf(t->sys, sizeof t->sys, "/sys/class/block/%s", t->name);

  char path[PATH_MAX + 32], value[64];
  snprintf(path, sizeof path, "%s/partition", t->sys);
  if (access(path, F_OK) == 0) fail(EXIT_REFUSED, "REFUSED", "%s is a partition, not a whole disk", device);
  snprintf(path, sizeof path, "%s/removable", t->sys);
  int removable = read_line(path, value, sizeof value) == 0 && strcmp(value, "1") == 0;
  int usb = strstr(resolved, "/usb") != NULL || strncmp(t->name, "mmcblk", 6) == 0;
  if (!removable && !usb) fail(EXIT_REFUSED, "REFUSED", "%s is an internal disk, not a removable or USB drive", device);
  snprintf(path, sizeof path, "%s/ro", t->sys);
  if (read_line(path, value, sizeof value) != 0 || strcmp(value, "0") != 0)
    fail(EXIT_REFUSED, "REFUSED", "%s is read-only", device);

  unsigned long long sectors;
  snprintf(path, sizeof path, "%s/size", t->sys);
  if (read_line(path, value, sizeof value) != 0 || parse_u64(value, &sectors) != 0)
    fail(EXIT_INTERNAL, "INTERNAL", "cannot read the size of %s", device);
  t->size = sectors * 512; /* sysfs counts 512-byte units whatever the sector size */
  if (t->size == 0) fail(EXIT_REFUSED, "REFUSED", "%s has no medium", device);
  if (t->size != confirmed_size)
    fail(EXIT_CHANGED, "CHANGED", "%s is %llu bytes, not the %llu confirmed", device, t->size, confirmed_size);
  if (!serial_matches(t->dev, serial)) fail(EXIT_CHANGED, "CHANGED", "%s has another serial number", device);

  /* The disk, its partitions (subfolders with a "partition" file) and everything stacked on them. */
  t->family.count = 0;
  add_member(&t->family, t->name, 0, 0);
  DIR *dir = opendir(t->sys);
  if (!dir) fail(EXIT_INTERNAL, "INTERNAL", "cannot list %s", t->sys);
  struct dirent *entry;
  while ((entry = readdir(dir))) {
    snprintf(path, sizeof path, "%s/%s/partition", t->sys, entry->d_name);
    if (entry->d_name[0] != '.' && access(path, F_OK) == 0) add_member(&t->family, entry->d_name, 1, 0);
  }
  closedir(dir);
  each_mount(system_mount_on_family, &t->family);
  check_swaps(&t->family);
}

struct mount_query {
  const char *point;
  const struct target *target;
};

static int is_partition_mount(const struct mount_entry *m, const void *data) {
  const struct mount_query *q = data;
  if (strcmp(m->point, q->point) != 0) return 0;
  for (int i = 0; i < q->target->family.count; i++)
    if (q->target->family.devs[i] == m->dev && q->target->family.is_partition[i]) return 1;
  return 2; /* mounted, but from another device */
}

static void install_grub_bios(const struct target *t, const char *device, const char *mount_point) {
  char resolved[PATH_MAX];
  if (mount_point[0] != '/' || strlen(mount_point) > 1024) fail(EXIT_USAGE, "USAGE", "MOUNTPOINT must be an absolute path");
  if (!realpath(mount_point, resolved) || strcmp(resolved, mount_point) != 0)
    fail(EXIT_REFUSED, "REFUSED", "MOUNTPOINT must be a plain path without links");
  struct mount_query query = {mount_point, t};
  int found = each_mount(is_partition_mount, &query);
  if (found != 1) fail(EXIT_REFUSED, "REFUSED", "%s is not a mounted partition of %s", mount_point, device);

  const char *program = NULL;
  for (int i = 0; GRUB_INSTALL[i]; i++)
    if (access(GRUB_INSTALL[i], X_OK) == 0) program = GRUB_INSTALL[i];
  if (!program) fail(EXIT_MISSING_TOOL, "MISSING_TOOL", "grub-install is not installed");

  char boot_dir[PATH_MAX + 32];
  snprintf(boot_dir, sizeof boot_dir, "--boot-directory=%s/boot", mount_point);
  char *const argv[] = {(char *)program, "--target=i386-pc", boot_dir, (char *)device, NULL};
  char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};
  printf("{\"event\":\"running\",\"program\":");
  json_string(program);
  printf("}\n");
  fflush(stdout);
  pid_t child = fork();
  if (child < 0) fail(EXIT_INTERNAL, "INTERNAL", "fork: %s", strerror(errno));
  if (child == 0) {
    dup2(STDERR_FILENO, STDOUT_FILENO); /* the tool's words go to stderr; stdout stays JSON */
    execve(program, argv, envp);
    _exit(127);
  }
  int status;
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) fail(EXIT_INTERNAL, "INTERNAL", "waitpid: %s", strerror(errno));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail(EXIT_TOOL_FAILED, "TOOL_FAILED", "%s failed (status %d)", program, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* dracut's live devices (live-rw, live-base, live-osimg-min ...) and Bootkey's own: `live-` or `bootkey-`, then
 * 1 to DM_NAME_MAX of [a-z0-9-]; and the kernel must have a device-mapper device of that name now. */
static void check_dm_name(const char *name) {
  const char *rest = strncmp(name, "live-", 5) == 0 ? name + 5 : strncmp(name, "bootkey-", 8) == 0 ? name + 8 : NULL;
  if (!rest) fail(EXIT_USAGE, "USAGE", "NAME must start with live- or bootkey-");
  size_t length = strlen(rest);
  if (length == 0 || length > DM_NAME_MAX) fail(EXIT_USAGE, "USAGE", "NAME must have 1 to %d characters after its prefix", DM_NAME_MAX);
  for (const char *c = rest; *c; c++)
    if (!(islower((unsigned char)*c) || isdigit((unsigned char)*c) || *c == '-'))
      fail(EXIT_USAGE, "USAGE", "NAME may hold only a-z, 0-9 and -");
  DIR *dir = opendir("/sys/block");
  if (!dir) fail(EXIT_INTERNAL, "INTERNAL", "cannot list /sys/block");
  int found = 0;
  for (struct dirent *e; !found && (e = readdir(dir));) {
    if (strncmp(e->d_name, "dm-", 3) != 0) continue;
    char path[PATH_MAX], value[128];
    snprintf(path, sizeof path, "/sys/block/%s/dm/name", e->d_name);
    found = read_line(path, value, sizeof value) == 0 && strcmp(value, name) == 0;
  }
  closedir(dir);
  if (!found) fail(EXIT_REFUSED, "REFUSED", "there is no device-mapper device named %s", name);
}

/* `dmsetup status NAME`, its one line reported as {"event":"dm-status","name":...,"status":...}. */
static void dm_status(const char *name) {
  check_dm_name(name);
  const char *program = NULL;
  for (int i = 0; DMSETUP[i] && !program; i++)
    if (access(DMSETUP[i], X_OK) == 0) program = DMSETUP[i];
  if (!program) fail(EXIT_MISSING_TOOL, "MISSING_TOOL", "dmsetup is not installed");
  int fds[2];
  if (pipe(fds) != 0) fail(EXIT_INTERNAL, "INTERNAL", "pipe: %s", strerror(errno));
  char *const argv[] = {(char *)program, "status", (char *)name, NULL};
  char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};
  pid_t child = fork();
  if (child < 0) fail(EXIT_INTERNAL, "INTERNAL", "fork: %s", strerror(errno));
  if (child == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execve(program, argv, envp);
    _exit(127);
  }
  close(fds[1]);
  char out[4096];
  size_t used = 0;
  for (ssize_t got; (got = read(fds[0], out + used, sizeof out - 1 - used)) != 0;) {
    if (got < 0) {
      if (errno == EINTR) continue;
      fail(EXIT_INTERNAL, "INTERNAL", "read: %s", strerror(errno));
    }
    used += (size_t)got;
    if (used == sizeof out - 1) break;
  }
  close(fds[0]);
  out[used] = '\0';
  int status;
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) fail(EXIT_INTERNAL, "INTERNAL", "waitpid: %s", strerror(errno));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail(EXIT_TOOL_FAILED, "TOOL_FAILED", "%s failed (status %d)", program, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  /* One line, without the trailing blank dmsetup leaves after the last field. */
  size_t end = strcspn(out, "\n");
  while (end > 0 && out[end - 1] == ' ') end--;
  out[end] = '\0';
  printf("{\"event\":\"dm-status\",\"name\":");
  json_string(name);
  printf(",\"status\":");
  json_string(out);
  printf("}\n{\"event\":\"done\"}\n");
}

int main(int argc, char **argv) {
  if (argc < 2) fail(EXIT_USAGE, "USAGE", "usage: bootkey-helper check|install-grub-bios DEVICE SERIAL SIZE [MOUNTPOINT] | dm-status NAME");
  const char *verb = argv[1];
  if (strcmp(verb, "dm-status") == 0) {
    if (argc != 3) fail(EXIT_USAGE, "USAGE", "dm-status takes 1 argument");
    dm_status(argv[2]);
    return EXIT_DONE;
  }
  int wanted = strcmp(verb, "check") == 0 ? 5 : strcmp(verb, "install-grub-bios") == 0 ? 6 : 0;
  if (!wanted) fail(EXIT_USAGE, "USAGE", "unknown verb");
  if (argc != wanted) fail(EXIT_USAGE, "USAGE", "%s takes %d arguments", verb, wanted - 2);

  struct target target;
  check_device(argv[2], argv[3], argv[4], &target);
  printf("{\"event\":\"checked\",\"device\":");
  json_string(argv[2]);
  printf(",\"size\":%llu}\n", target.size);
  fflush(stdout);
  if (wanted == 6) install_grub_bios(&target, argv[2], argv[5]);
  printf("{\"event\":\"done\"}\n");
  return EXIT_DONE;
}
