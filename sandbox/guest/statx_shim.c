/* LD_PRELOAD shim for runsc 2022-12 on new kernels: statx(..., AT_NO_AUTOMOUNT)
 * fails with EINVAL inside the sandbox (ls -l, stat break). Retry without the
 * flag: automounts do not exist in the sandbox, so the flag changes nothing. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *buf) {
    long r = syscall(SYS_statx, dirfd, path, flags, mask, buf);
    if (r < 0 && errno == EINVAL && (flags & AT_NO_AUTOMOUNT))
        r = syscall(SYS_statx, dirfd, path, flags & ~AT_NO_AUTOMOUNT, mask, buf);
    return (int)r;
}
