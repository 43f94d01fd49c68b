package transport

import (
	"errors"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A writer's writev, hand-written because it is the hot path: the net package's
// net.Buffers.WriteTo waits for a full socket until its write deadline, and that deadline costs a
// timer update per turn (4-6 % of the CPU under fan-out). This one never waits: it writes what the
// kernel takes at once and leaves the rest queued, and it reuses its writer's iovec array.

// maxIovecs is Linux's IOV_MAX: one writev takes at most this many buffers.
const maxIovecs = 1024

// errWouldBlock reports that the socket's kernel buffer is full: the rest waits for a later turn.
var errWouldBlock = errors.New("socket send buffer full")

// rawWriter writes through a socket's file descriptor without blocking.
type rawWriter struct {
	iov []unix.Iovec // reused by one writer goroutine
}

// writev writes as much of bufs as the kernel takes now and removes it from bufs. It returns the
// bytes written, errWouldBlock when the kernel took less than all, or the write's error.
func (w *rawWriter) writev(rc syscall.RawConn, bufs *net.Buffers) (int64, error) {
	var written int64
	var werr error
	err := rc.Write(func(fd uintptr) bool {
		for len(*bufs) > 0 {
			w.iov = w.iov[:0]
			want := 0
			for _, b := range *bufs {
				if len(b) == 0 {
					continue
				}
				w.iov = append(w.iov, unix.Iovec{Base: &b[0]})
				w.iov[len(w.iov)-1].SetLen(len(b))
				want += len(b)
				if len(w.iov) == maxIovecs {
					break
				}
			}
			if want == 0 {
				*bufs = (*bufs)[:0]
				return true
			}
			n, _, errno := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(len(w.iov)))
			if errno == unix.EINTR {
				continue
			}
			if errno != 0 {
				if errno == unix.EAGAIN {
					werr = errWouldBlock
				} else {
					werr = errno
				}
				return true
			}
			written += int64(n)
			consume(bufs, int(n))
			if int(n) < want {
				werr = errWouldBlock // the kernel's buffer is full
				return true
			}
		}
		return true // never wait for the poller: a full socket is retried by its writer later
	})
	clear(w.iov) // no pointers into frames kept past the call
	if err != nil {
		return written, err
	}
	return written, werr
}

// consume drops the first n bytes of bufs.
func consume(bufs *net.Buffers, n int) {
	b := *bufs
	for n > 0 && len(b) > 0 {
		if n < len(b[0]) {
			b[0] = b[0][n:]
			break
		}
		n -= len(b[0])
		b[0] = nil
		b = b[1:]
	}
	*bufs = b
}
