/*
 * Preloaded into Debian's linux.uml (6.1) so it runs on hosts whose XSAVE area is larger than the 2696 bytes
 * it was built for (AMX hosts need 11008). The host kernel accepts PTRACE_SETREGSET(NT_X86_XSTATE) only with a
 * buffer of exactly its own size, so the packaged UML panics on its first user process with "userspace -
 * ptrace set fp regs failed, errno = 14". Later UML kernels ask the host for the size; this does the same for
 * the packaged one: it pads UML's buffer to the host size and marks every component that does not fit in
 * UML's buffer (AMX tiles, which no guest process can enable) as being in its initial state.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <dlfcn.h>
#include <elf.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef long (*ptrace_fn)(enum __ptrace_request, pid_t, void *, void *);

enum { XSTATE_HEADER_OFFSET = 512, PROBE_SIZE = 1 << 16 };

static ptrace_fn real_ptrace;
static size_t host_size;
static __thread unsigned char *padded;

/* The host kernel's full XSAVE size for ptrace: what GETREGSET fills when given more than enough room. */
static size_t probe_host_size(pid_t pid) {
  void *probe = malloc(PROBE_SIZE);
  struct iovec iov = { probe, PROBE_SIZE };
  size_t size = 0;
  if (probe && real_ptrace(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &iov) == 0) size = iov.iov_len;
  free(probe);
  return size;
}

/* Components whose bytes lie (partly) beyond `length` are marked as being in their initial state. */
static void drop_components_beyond(unsigned char *xsave, size_t length) {
  uint64_t features;
  memcpy(&features, xsave + XSTATE_HEADER_OFFSET, sizeof features);
  for (unsigned int bit = 2; bit < 64; bit++) {
    if (!(features & (UINT64_C(1) << bit))) continue;
    unsigned int size, offset, ecx, edx;
    if (!__get_cpuid_count(0xd, bit, &size, &offset, &ecx, &edx)) continue;
    if ((size_t)offset + size > length) features &= ~(UINT64_C(1) << bit);
  }
  memcpy(xsave + XSTATE_HEADER_OFFSET, &features, sizeof features);
}

long ptrace(enum __ptrace_request request, ...) {
  va_list args;
  va_start(args, request);
  pid_t pid = va_arg(args, pid_t);
  void *addr = va_arg(args, void *);
  void *data = va_arg(args, void *);
  va_end(args);
  if (!real_ptrace) real_ptrace = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");

  if (request == PTRACE_SETREGSET && (uintptr_t)addr == NT_X86_XSTATE) {
    struct iovec *iov = data;
    if (!host_size) host_size = probe_host_size(pid);
    if (host_size > iov->iov_len && iov->iov_len > XSTATE_HEADER_OFFSET + 8) {
      if (!padded) padded = malloc(host_size);
      if (padded) {
        memset(padded, 0, host_size);
        memcpy(padded, iov->iov_base, iov->iov_len);
        drop_components_beyond(padded, iov->iov_len);
        struct iovec full = { padded, host_size };
        return real_ptrace(request, pid, addr, &full);
      }
    }
  }
  return real_ptrace(request, pid, addr, data);
}
