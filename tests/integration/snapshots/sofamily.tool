Socket connect/accepts by process and address family.

@accept[sockrec-fixture, 1, AF_UNIX]: 2
@accept[sockrec-fixture, 10, AF_INET6]: 3
@accept[sockrec-fixture, 2, AF_INET]: 5

@connect[sockrec-fixture, 1, AF_UNIX]: 2
@connect[sockrec-fixture, 10, AF_INET6]: 3
@connect[sockrec-fixture, 2, AF_INET]: 10

