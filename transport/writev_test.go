package transport

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
)

// tcpPair is a connected loopback TCP pair; the first has a small kernel send buffer.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dialed, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	accepted, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialed.Close(); accepted.Close() })
	w := accepted.(*net.TCPConn)
	if err := w.SetWriteBuffer(8 << 10); err != nil {
		t.Fatal(err)
	}
	return w, dialed.(*net.TCPConn)
}

func rawOf(t *testing.T, c syscall.Conn) syscall.RawConn {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// A writev the kernel cannot take whole writes a prefix, says so, and leaves exactly the rest
// queued; writing the rest later gives the reader the whole stream in order, with more buffers
// than one writev takes.
func TestWritevPartialKeepsTheRest(t *testing.T) {
	w, r := tcpPair(t)
	var want bytes.Buffer
	var bufs net.Buffers
	for i := range 3000 { // over IOV_MAX buffers, and far over the 8 KB send buffer
		b := bytes.Repeat([]byte{byte('a' + i%26)}, 100+i%50)
		want.Write(b)
		bufs = append(bufs, b)
	}
	var rw rawWriter
	raw := rawOf(t, w)
	total := int64(0)
	n, err := rw.writev(raw, &bufs)
	total += n
	if !errors.Is(err, errWouldBlock) {
		t.Fatalf("first writev of %d bytes to a reader that has not read: err %v, wrote %d", want.Len(), err, n)
	}
	if left := int64(bufLen(bufs)); total+left != int64(want.Len()) {
		t.Fatalf("wrote %d and %d left, want %d in all", total, left, want.Len())
	}
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(r, int64(want.Len())))
		got <- b
	}()
	for len(bufs) > 0 { // the reader drains meanwhile
		n, err = rw.writev(raw, &bufs)
		total += n
		if err != nil && !errors.Is(err, errWouldBlock) {
			t.Fatal(err)
		}
	}
	if total != int64(want.Len()) {
		t.Fatalf("wrote %d, want %d", total, want.Len())
	}
	if !bytes.Equal(<-got, want.Bytes()) {
		t.Fatal("the reader's stream differs from the buffers written")
	}
}

// A write to a connection the peer reset is an error, not a full buffer.
func TestWritevClosedIsAnError(t *testing.T) {
	w, r := tcpPair(t)
	_ = r.SetLinger(0)
	_ = r.Close()
	var rw rawWriter
	raw := rawOf(t, w)
	var err error
	for range 100 { // the reset arrives after the first write at the latest
		bufs := net.Buffers{[]byte("hello")}
		if _, err = rw.writev(raw, &bufs); err != nil {
			break
		}
	}
	if err == nil || errors.Is(err, errWouldBlock) {
		t.Fatalf("writes to a reset connection: err %v, want a write error", err)
	}
}

func TestConsume(t *testing.T) {
	bufs := net.Buffers{[]byte("abc"), []byte("de"), []byte("fgh")}
	consume(&bufs, 4)
	if len(bufs) != 2 || string(bufs[0]) != "e" || string(bufs[1]) != "fgh" {
		t.Fatalf("after 4 bytes: %q", bufs)
	}
	consume(&bufs, 4)
	if len(bufs) != 0 {
		t.Fatalf("after all bytes: %q", bufs)
	}
}

func bufLen(bufs net.Buffers) (n int) {
	for _, b := range bufs {
		n += len(b)
	}
	return n
}
