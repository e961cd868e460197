Sock statistics per second (UTC), counted at call entry.
10:16:55
@[tracepoint:syscalls:sys_enter_accept]: 1
@[tracepoint:syscalls:sys_enter_socketpair]: 2
@[tracepoint:syscalls:sys_enter_bind]: 8
@[tracepoint:syscalls:sys_enter_accept4]: 9
@[tracepoint:syscalls:sys_enter_connect]: 15
@[tracepoint:syscalls:sys_enter_socket]: 19
@[kprobe:sock_recvmsg]: 24
@[kprobe:sock_sendmsg]: 24

