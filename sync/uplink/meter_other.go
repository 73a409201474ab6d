//go:build !linux

package uplink

import "syscall"

func sendQueue(syscall.RawConn) (int, bool) { return 0, false }
