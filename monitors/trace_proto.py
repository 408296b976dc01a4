"""The few gVisor trace-point message schemas the trace sink decodes, built at import time.

Why hand-built descriptors rather than extracting the ``FileDescriptorProto``s embedded in
``/usr/bin/runsc``: they do not depend on the layout of a Go binary or on runsc being
installed where the sink runs (replays, tests), and protobuf skips unknown fields, so a
newer runsc that adds fields still decodes. Field numbers follow gVisor's public
``pkg/sentry/seccheck/points/{common,container,sentry,syscall}.proto``;
tests/monitors/test_trace_proto.py checks them against the descriptors in the local runsc.

Wire format of the remote sink (``pkg/sentry/seccheck/sinks/remote/wire``): after both
sides exchange ``Handshake{version}`` (version 1), every SOCK_SEQPACKET message is an
8-byte little-endian header -- u16 header size, u16 message type, u32 cumulative dropped
count -- followed by the protobuf payload at offset ``header size``.
"""

from __future__ import annotations

import struct
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

WIRE_VERSION = 1
HEADER = struct.Struct("<HHI")

# gvisor.common.MessageType values used here.
MSG_CONTAINER_START = 1
MSG_SENTRY_CLONE = 2
MSG_SENTRY_EXEC = 3
MSG_SENTRY_EXIT_NOTIFY_PARENT = 4
MSG_SENTRY_TASK_EXIT = 5
MSG_SYSCALL_OPEN = 7
MSG_SYSCALL_CONNECT = 10
MSG_SYSCALL_DUP = 19

_F = descriptor_pb2.FieldDescriptorProto
_INT64, _UINT64, _INT32, _BOOL = _F.TYPE_INT64, _F.TYPE_UINT64, _F.TYPE_INT32, _F.TYPE_BOOL
_STR, _MSG, _BYTES, _UINT32 = _F.TYPE_STRING, _F.TYPE_MESSAGE, _F.TYPE_BYTES, _F.TYPE_UINT32
_REP = "repeated"

# (package, file, dependency, {message: [(field, number, type, type_name | "repeated" | None)]})
_SCHEMAS: list[tuple[str, str, list[str], dict[str, list[tuple[str, int, int, str | None]]]]] = [
    ("gvisor.common", "pkg/sentry/seccheck/points/common.proto", [], {
        "Handshake": [("version", 1, _UINT32, None)],
        "Credentials": [("real_uid", 1, _UINT32, None), ("effective_uid", 2, _UINT32, None),
                        ("saved_uid", 3, _UINT32, None), ("real_gid", 4, _UINT32, None),
                        ("effective_gid", 5, _UINT32, None), ("saved_gid", 6, _UINT32, None)],
        "ContextData": [("time_ns", 1, _INT64, None), ("thread_id", 2, _INT32, None),
                        ("thread_start_time_ns", 3, _INT64, None), ("thread_group_id", 4, _INT32, None),
                        ("thread_group_start_time_ns", 5, _INT64, None), ("container_id", 6, _STR, None),
                        ("credentials", 7, _MSG, ".gvisor.common.Credentials"), ("cwd", 8, _STR, None),
                        ("process_name", 9, _STR, None)],
    }),
    ("gvisor.container", "pkg/sentry/seccheck/points/container.proto", ["common"], {
        "Start": [("context_data", 1, _MSG, ".gvisor.common.ContextData"), ("id", 2, _STR, None),
                  ("cwd", 3, _STR, None), ("args", 4, _STR, _REP), ("env", 5, _STR, _REP),
                  ("terminal", 6, _BOOL, None)],
    }),
    ("gvisor.sentry", "pkg/sentry/seccheck/points/sentry.proto", ["common"], {
        "CloneInfo": [("context_data", 1, _MSG, ".gvisor.common.ContextData"),
                      ("created_thread_id", 3, _INT32, None), ("created_thread_group_id", 4, _INT32, None),
                      ("created_thread_start_time_ns", 5, _INT64, None), ("flags", 6, _UINT64, None)],
        "ExecveInfo": [("context_data", 1, _MSG, ".gvisor.common.ContextData"), ("binary_path", 2, _STR, None),
                       ("argv", 3, _STR, _REP), ("env", 4, _STR, _REP), ("binary_mode", 5, _UINT32, None),
                       ("binary_uid", 6, _UINT32, None), ("binary_gid", 7, _UINT32, None),
                       ("binary_sha256", 8, _BYTES, None)],
        "TaskExit": [("context_data", 1, _MSG, ".gvisor.common.ContextData"), ("exit_status", 2, _INT32, None)],
    }),
    ("gvisor.syscall", "pkg/sentry/seccheck/points/syscall.proto", ["common"], {
        "Exit": [("result", 1, _INT64, None), ("errorno", 2, _INT64, None)],
        "Open": [("context_data", 1, _MSG, ".gvisor.common.ContextData"), ("exit", 2, _MSG, ".gvisor.syscall.Exit"),
                 ("sysno", 3, _UINT64, None), ("fd", 4, _INT64, None), ("fd_path", 5, _STR, None),
                 ("pathname", 6, _STR, None), ("flags", 7, _UINT32, None), ("mode", 8, _UINT32, None)],
        "Connect": [("context_data", 1, _MSG, ".gvisor.common.ContextData"),
                    ("exit", 2, _MSG, ".gvisor.syscall.Exit"), ("sysno", 3, _UINT64, None),
                    ("fd", 4, _INT64, None), ("fd_path", 5, _STR, None), ("address", 6, _BYTES, None)],
        "Dup": [("context_data", 1, _MSG, ".gvisor.common.ContextData"), ("exit", 2, _MSG, ".gvisor.syscall.Exit"),
                ("sysno", 3, _UINT64, None), ("old_fd", 4, _INT32, None), ("new_fd", 5, _INT32, None),
                ("fd_path", 6, _STR, None), ("flags", 7, _UINT32, None)],
    }),
]


def _build() -> dict[str, Any]:
    pool = descriptor_pool.DescriptorPool()  # private: never clashes with other protos
    files: dict[str, str] = {}
    for package, fname, deps, messages in _SCHEMAS:
        fd = descriptor_pb2.FileDescriptorProto(name=fname, package=package, syntax="proto3",
                                                dependency=[files[d] for d in deps])
        files[package.split(".")[-1]] = fname
        for mname, fields in messages.items():
            m = fd.message_type.add(name=mname)
            for name, num, typ, extra in fields:
                f = m.field.add(name=name, number=num, type=typ,
                                label=_F.LABEL_REPEATED if extra == _REP else _F.LABEL_OPTIONAL)
                if typ == _MSG:
                    f.type_name = extra or ""
        pool.Add(fd)
    classes = {}
    for package, _f, _d, messages in _SCHEMAS:
        for mname in messages:
            full = f"{package}.{mname}"
            classes[full] = message_factory.GetMessageClass(pool.FindMessageTypeByName(full))
    return classes


CLASSES = _build()
Handshake = CLASSES["gvisor.common.Handshake"]

# message type -> payload class
BY_TYPE: dict[int, Any] = {
    MSG_CONTAINER_START: CLASSES["gvisor.container.Start"],
    MSG_SENTRY_CLONE: CLASSES["gvisor.sentry.CloneInfo"],
    MSG_SENTRY_EXEC: CLASSES["gvisor.sentry.ExecveInfo"],
    MSG_SENTRY_TASK_EXIT: CLASSES["gvisor.sentry.TaskExit"],
    MSG_SYSCALL_OPEN: CLASSES["gvisor.syscall.Open"],
    MSG_SYSCALL_CONNECT: CLASSES["gvisor.syscall.Connect"],
    MSG_SYSCALL_DUP: CLASSES["gvisor.syscall.Dup"],
}


def schema_fields() -> dict[str, list[tuple[str, int, int]]]:
    """(field, number, type) per message, for cross-checking against runsc's own descriptors."""
    return {f"{pkg}.{m}": [(n, num, t) for n, num, t, _ in fields]
            for pkg, _f, _d, msgs in _SCHEMAS for m, fields in msgs.items()}


def frame(msg_type: int, payload: bytes, dropped: int = 0, header_size: int = HEADER.size) -> bytes:
    """Encode one sink message (used by tests and the benchmark's fake producer)."""
    return HEADER.pack(header_size, msg_type, dropped & 0xFFFFFFFF) + b"\0" * (header_size - HEADER.size) + payload
