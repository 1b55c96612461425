# The sandbox service's file IO for one session, run inside the session's jail (as the
# jail's user, with its mounts, seccomp filter and host uid), so that it sees exactly what the
# code sees and can reach nothing the code cannot. The server never opens a path the code
# controls: it asks this process, over stdin/stdout.
#
# Paths arrive as lists of components below the workspace (the server has refused "..",
# "." and empty parts). Every component is opened relative to its parent's fd with
# O_NOFOLLOW, so a symlink the code plants, or swaps in while a request runs, is never
# followed: it is reported as a symlink or refused.
#
# Protocol: a request is one JSON line; `write` is followed by frames (4-byte big-endian
# length, then the bytes; length 0 ends, 0xFFFFFFFF aborts). A response is one JSON line,
# {"ok": true, ...} or {"ok": false, "status": N, "error": "..."}; a successful `read`
# is followed by frames ending with a zero-length one.
import errno
import fcntl
import json
import os
import stat
import struct
import sys
import time

# Where the workspace is opened, and the path answers name it by (the code's: /home/user). They
# differ without the jail, where the workspace is reached at its host path; the second comes
# without its leading slash, which keeps it out of unjailed-process.ts's rewriting of inside paths.
ROOT = sys.argv[1]
SHOWN = "/" + sys.argv[2]
CHUNK = 256 * 1024
ABORT = 0xFFFFFFFF
MAX_LIST_ENTRIES = 10000
UID = os.getuid()

stdin = sys.stdin.buffer
stdout = sys.stdout.buffer


class Refusal(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def shown(parts):
    return SHOWN if not parts else SHOWN + "/" + "/".join(parts)


def type_of(mode):
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


def entry_of(parts, st):
    return {
        "name": parts[-1] if parts else os.path.basename(SHOWN),
        "type": type_of(st.st_mode),
        "path": shown(parts),
        "size": st.st_size,
        "mode": "0%o" % stat.S_IMODE(st.st_mode),
        "permissions": stat.filemode(st.st_mode),
        "owner": "user" if st.st_uid == UID else str(st.st_uid),
        "group": "user" if st.st_gid == os.getgid() else str(st.st_gid),
        "modifiedTime": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(st.st_mtime_ns // 10**9))
        + ".%06dZ" % (st.st_mtime_ns // 1000 % 10**6),
    }


# errno -> (status, message about the path)
REFUSALS = {
    errno.ENOENT: (404, "no such file or directory: %s"),
    errno.EACCES: (403, "permission denied: %s"),
    errno.EPERM: (403, "permission denied: %s"),
    errno.EEXIST: (409, "already exists: %s"),
    errno.EISDIR: (400, "is a directory: %s"),
    errno.ENOTDIR: (400, "not a directory: %s"),
    errno.ENOTEMPTY: (409, "directory not empty: %s"),
    errno.ENOSPC: (507, "no space left in the workspace (its disk limit) writing %s"),
    errno.EDQUOT: (507, "no space left in the workspace (its disk limit) writing %s"),
    errno.ELOOP: (400, "%s is a symbolic link: file tools do not follow links"),
}


def refusal_of(error, parts):
    where = shown(parts)
    status, message = REFUSALS.get(error.errno, (500, "%s: " + os.strerror(error.errno or 0)))
    return Refusal(status, message % where)


def open_dir(parts, create=False, mode=0o755):
    """An O_PATH fd of the directory at parts, never through a symlink."""
    fd = os.open(ROOT, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    for i, name in enumerate(parts):
        try:
            if create:
                try:
                    os.mkdir(name, mode, dir_fd=fd)
                except FileExistsError:
                    pass
            next_fd = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        except OSError as error:
            os.close(fd)
            here = parts[: i + 1]
            if error.errno in (errno.ENOTDIR, errno.ELOOP):
                raise Refusal(400, "%s is a symbolic link or not a directory: file tools do not follow links" % shown(here))
            raise refusal_of(error, here)
        os.close(fd)
        fd = next_fd
    return fd


def lstat_at(dir_fd, parts):
    try:
        return os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
    except OSError as error:
        raise refusal_of(error, parts)


def op_stat(request):
    parts = request["parts"]
    if not parts:
        return {"entry": entry_of(parts, os.stat(ROOT))}
    fd = open_dir(parts[:-1])
    try:
        return {"entry": entry_of(parts, lstat_at(fd, parts))}
    finally:
        os.close(fd)


def op_list(request):
    parts = request["parts"]
    depth = max(1, min(int(request.get("depth", 1)), 10))
    entries = []
    truncated = False
    root_fd = open_dir(parts)

    def walk(fd, prefix, level):
        nonlocal truncated
        with os.scandir(fd) as listing:
            children = sorted(listing, key=lambda e: e.name)
        for child in children:
            if len(entries) >= MAX_LIST_ENTRIES:
                truncated = True
                return
            try:
                st = child.stat(follow_symlinks=False)
            except OSError:
                continue
            entries.append(entry_of(prefix + [child.name], st))
            if level < depth and stat.S_ISDIR(st.st_mode):
                try:
                    sub = os.open(child.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                except OSError:
                    continue
                try:
                    walk(sub, prefix + [child.name], level + 1)
                finally:
                    os.close(sub)

    try:
        listed = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=root_fd)
    finally:
        os.close(root_fd)
    try:
        walk(listed, list(parts), 1)
    finally:
        os.close(listed)
    return {"path": shown(parts), "entries": entries, "truncated": truncated}


def open_file(parts):
    """An fd of the regular file at parts, read-only; refuses links, specials and hard-linked files."""
    if not parts:
        raise Refusal(400, "%s is a directory" % SHOWN)
    fd = open_dir(parts[:-1])
    try:
        file_fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
    except OSError as error:
        raise refusal_of(error, parts)
    finally:
        os.close(fd)
    st = os.fstat(file_fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(file_fd)
        raise Refusal(400, "%s is a %s, not a regular file" % (shown(parts), type_of(st.st_mode)))
    if st.st_nlink > 1:
        os.close(file_fd)
        raise Refusal(403, "%s has other hard links: file tools do not read it (it may be another file's)" % shown(parts))
    return file_fd, st


def send(message):
    stdout.write(json.dumps(message).encode() + b"\n")
    stdout.flush()


def op_read(request):
    parts = request["parts"]
    fd, st = open_file(parts)
    try:
        limit = int(request.get("max", 0))
        if limit and st.st_size > limit:
            raise Refusal(413, "%s is %d bytes, over the read limit of %d bytes" % (shown(parts), st.st_size, limit))
        send({"ok": True, "entry": entry_of(parts, st)})
        sent = 0
        while True:
            chunk = os.read(fd, CHUNK)
            if not chunk:
                break
            if limit and sent + len(chunk) > limit:
                chunk = chunk[: limit - sent]
            stdout.write(struct.pack(">I", len(chunk)))
            stdout.write(chunk)
            sent += len(chunk)
            if limit and sent >= limit:
                break
        stdout.write(struct.pack(">I", 0))
        stdout.flush()
    finally:
        os.close(fd)
    return None


def read_frames():
    """Yields the frames of a write until its end; raises Refusal when the server aborts."""
    while True:
        header = stdin.read(4)
        if len(header) < 4:
            raise SystemExit(0)
        (length,) = struct.unpack(">I", header)
        if length == 0:
            return
        if length == ABORT:
            raise Refusal(499, "the upload was abandoned")
        data = stdin.read(length)
        if len(data) < length:
            raise SystemExit(0)
        yield data


def op_write(request):
    parts = request["parts"]
    frames = read_frames()
    try:
        if not parts:
            raise Refusal(400, "a file path is required")
        mode = int(request.get("mode") or "644", 8) & 0o777
        dir_fd = open_dir(parts[:-1], create=request.get("createDir", True))
    except BaseException:
        for _ in frames:
            pass
        raise
    temp = ".upload-%s" % os.urandom(8).hex()
    try:
        refuse_unless_replaceable(dir_fd, parts)
        out = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
        size = 0
        try:
            for data in frames:
                view = memoryview(data)
                while view:
                    written = os.write(out, view)
                    view = view[written:]
                size += len(data)
            os.fchmod(out, mode)
        finally:
            os.close(out)
        # A rename replaces the name itself: whatever was there (a hard link to another
        # file included) is left as it was.
        os.rename(temp, parts[-1], src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return {"path": shown(parts), "size": size}
    except BaseException as error:
        for _ in frames:
            pass
        try:
            os.unlink(temp, dir_fd=dir_fd)
        except OSError:
            pass
        if isinstance(error, OSError):
            raise refusal_of(error, parts)
        raise
    finally:
        os.close(dir_fd)


def refuse_unless_replaceable(dir_fd, parts):
    """A file may take the name parts[-1] in dir_fd by a rename: nothing is there, or a file
    (which the rename replaces, itself untouched); never a link or a directory."""
    try:
        existing = os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(existing.st_mode):
        raise Refusal(400, "%s is a symbolic link: file tools do not follow or replace links" % shown(parts))
    if stat.S_ISDIR(existing.st_mode):
        raise Refusal(409, "%s is a directory" % shown(parts))


def op_place(request):
    """Renames a spooled upload (a file at the workspace's top, written before its path was
    known) to its path, with write's rules: parents created when asked, never over a link or
    a directory. The spool is removed whatever happens."""
    spool, parts = request["spool"], request["parts"]
    root_fd = open_dir([])
    try:
        try:
            if not parts:
                raise Refusal(400, "a file path is required")
            dir_fd = open_dir(parts[:-1], create=request.get("createDir", True))
            try:
                refuse_unless_replaceable(dir_fd, parts)
                try:
                    os.rename(spool, parts[-1], src_dir_fd=root_fd, dst_dir_fd=dir_fd)
                except OSError as error:
                    raise refusal_of(error, parts)
                return {"path": shown(parts), "size": lstat_at(dir_fd, parts).st_size}
            finally:
                os.close(dir_fd)
        except BaseException:
            try:
                os.unlink(spool, dir_fd=root_fd)
            except OSError:
                pass
            raise
    finally:
        os.close(root_fd)


def op_mkdir(request):
    parts = request["parts"]
    if not parts:
        raise Refusal(409, "already exists: %s" % SHOWN)
    mode = int(request.get("mode") or "755", 8) & 0o777
    parents = request.get("parents", True)
    fd = open_dir(parts[:-1], create=parents, mode=mode)
    try:
        try:
            os.mkdir(parts[-1], mode, dir_fd=fd)
        except FileExistsError:
            if not parents:
                raise Refusal(409, "already exists: %s" % shown(parts))
        except OSError as error:
            raise refusal_of(error, parts)
        return {"entry": entry_of(parts, lstat_at(fd, parts))}
    finally:
        os.close(fd)


def op_move(request):
    source, destination = request["parts"], request["destination"]
    if not source or not destination:
        raise Refusal(400, "the workspace itself cannot be moved")
    src_fd = open_dir(source[:-1])
    try:
        dst_fd = open_dir(destination[:-1])
        try:
            try:
                os.rename(source[-1], destination[-1], src_dir_fd=src_fd, dst_dir_fd=dst_fd)
            except OSError as error:
                raise refusal_of(error, source)
            return {"entry": entry_of(destination, lstat_at(dst_fd, destination))}
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)


def op_remove(request):
    parts = request["parts"]
    if not parts:
        raise Refusal(400, "the workspace itself cannot be removed")
    fd = open_dir(parts[:-1])
    try:
        st = lstat_at(fd, parts)
        entry = entry_of(parts, st)
        try:
            if stat.S_ISDIR(st.st_mode):
                # rmtree with dir_fd works on fds throughout and never follows a symlink.
                import shutil  # here: 1 MB less for a worker that never removes a folder

                dir_copy = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
                try:
                    shutil.rmtree(parts[-1], dir_fd=dir_copy)
                finally:
                    os.close(dir_copy)
            else:
                os.unlink(parts[-1], dir_fd=fd)
        except OSError as error:
            raise refusal_of(error, parts)
        return {"entry": entry}
    finally:
        os.close(fd)


OPERATIONS = {
    "stat": op_stat,
    "list": op_list,
    "read": op_read,
    "write": op_write,
    "place": op_place,
    "mkdir": op_mkdir,
    "move": op_move,
    "remove": op_remove,
}


def main():
    # Bigger pipes, fewer trips through the kernel per file (the default is 64 KiB).
    for stream in (0, 1):
        try:
            fcntl.fcntl(stream, fcntl.F_SETPIPE_SZ, 1024 * 1024)
        except (OSError, AttributeError):
            pass
    while True:
        line = stdin.readline()
        if not line:
            return
        try:
            request = json.loads(line)
            operation = OPERATIONS.get(request.get("op"))
            if operation is None:
                raise Refusal(400, "unknown file operation %r" % request.get("op"))
            result = operation(request)
            if result is not None:
                result["ok"] = True
                send(result)
        except Refusal as refusal:
            send({"ok": False, "status": refusal.status, "error": str(refusal)})
        except OSError as error:
            send({"ok": False, "status": 500, "error": os.strerror(error.errno or 0)})


main()
