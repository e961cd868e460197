Socket connect/accepts by process and protocol.

@accept[sockrec-fixture, 0, IPPROTO_IP, UNIX]: 2
@accept[sockrec-fixture, 6, IPPROTO_TCP, TCP]: 8

@connect[sockrec-fixture, 0, IPPROTO_IP, UNIX]: 2
@connect[sockrec-fixture, 17, IPPROTO_UDP, UDP]: 4
@connect[sockrec-fixture, 6, IPPROTO_TCP, TCP]: 9

