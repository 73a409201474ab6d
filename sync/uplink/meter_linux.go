package uplink

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// sendQueue is the number of bytes in the socket's send queue not yet acknowledged.
func sendQueue(raw syscall.RawConn) (int, bool) {
	var q int
	var qerr error
	if err := raw.Control(func(fd uintptr) { q, qerr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) }); err != nil || qerr != nil {
		return 0, false
	}
	return q, true
}
