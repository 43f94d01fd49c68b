package bench

import (
	"os"
	"testing"
	"time"
)

func TestReadProcSelf(t *testing.T) {
	before, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Touch 64 MB and burn a little CPU so that both must grow.
	buf := make([]byte, 64<<20)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = byte(i)
	}
	// Spin until the kernel has charged 50 ms of CPU (bounded: a loaded machine may give this
	// process little of its time).
	deadline := time.Now().Add(10 * time.Second)
	x := 0
	for time.Now().Before(deadline) {
		for i := range 1000000 {
			x += i ^ x
		}
		if s, err := ReadProc(os.Getpid()); err == nil && s.CPUSeconds >= before.CPUSeconds+0.05 {
			break
		}
	}
	after, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if before.RSSBytes <= 0 || after.Threads <= 0 || after.HWMBytes < after.RSSBytes {
		t.Fatalf("sample %+v", after)
	}
	if d := after.CPUSeconds - before.CPUSeconds; d < 0.05 {
		t.Fatalf("cpu grew by %.2f s over a busy loop", d)
	}
	if after.RSSBytes < before.RSSBytes+32<<20 {
		t.Fatalf("rss %d -> %d after touching 64 MB", before.RSSBytes, after.RSSBytes)
	}
	_ = x
	_ = buf
}

func TestParseStatCPU(t *testing.T) {
	cases := []struct {
		name string
		stat string
		want float64
		bad  bool
	}{
		{"plain", "1234 (herald) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 9 0 100 0 0", 4.0, false},
		{"spaces and parens in name", "42 (a (b) c) R 1 1 1 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0", 0.1, false},
		{"truncated", "42 (x) R 1 1", 0, true},
		{"no name", "42 x R", 0, true},
		{"not numbers", "42 (x) R 1 1 1 0 -1 0 0 0 0 0 a b 0 0", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tc.stat))
			if (err != nil) != tc.bad || got != tc.want {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	f := parseStatus([]byte("Name:\therald\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads:\t7\nbad line\n"))
	if f["VmRSS"] != 1024*1024 || f["VmHWM"] != 2048*1024 || f["Threads"] != 7 {
		t.Fatalf("%v", f)
	}
	if _, err := ReadProc(1 << 30); err == nil {
		t.Fatal("no error for a missing pid")
	}
}

func TestRaiseFileLimit(t *testing.T) {
	n, err := RaiseFileLimit()
	if err != nil || n == 0 {
		t.Fatalf("%d, %v", n, err)
	}
}
