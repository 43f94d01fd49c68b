package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is Linux's USER_HZ, the unit of utime and stime in /proc/PID/stat: 100 on every
// architecture Go supports.
const clockTicks = 100

// ProcSample is a server process's CPU time and memory at one moment.
type ProcSample struct {
	At         time.Time `json:"at"`
	CPUSeconds float64   `json:"cpu_seconds"` // utime + stime
	RSSBytes   int64     `json:"rss_bytes"`   // VmRSS
	HWMBytes   int64     `json:"hwm_bytes"`   // VmHWM, the peak RSS
	Threads    int       `json:"threads"`
}

// ReadProc samples process pid from /proc/PID/stat and /proc/PID/status.
func ReadProc(pid int) (ProcSample, error) {
	s := ProcSample{At: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("bench: server process: %w", err)
	}
	if s.CPUSeconds, err = parseStatCPU(stat); err != nil {
		return s, fmt.Errorf("bench: /proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("bench: server process: %w", err)
	}
	fields := parseStatus(status)
	s.RSSBytes, s.HWMBytes = fields["VmRSS"], fields["VmHWM"]
	s.Threads = int(fields["Threads"])
	if _, ok := fields["VmRSS"]; !ok {
		return s, fmt.Errorf("bench: /proc/%d/status: no VmRSS (a zombie?)", pid)
	}
	return s, nil
}

// ReadProcs samples several processes (the nodes of a cluster) and sums their figures.
func ReadProcs(pids []int) (ProcSample, error) {
	var sum ProcSample
	for i, pid := range pids {
		s, err := ReadProc(pid)
		if err != nil {
			return sum, err
		}
		if i == 0 {
			sum.At = s.At
		}
		sum.CPUSeconds += s.CPUSeconds
		sum.RSSBytes += s.RSSBytes
		sum.HWMBytes += s.HWMBytes
		sum.Threads += s.Threads
	}
	return sum, nil
}

// parseStatCPU reads utime + stime (fields 14 and 15) of /proc/PID/stat, in seconds. The command
// name (field 2) is in parentheses and may hold spaces and parentheses itself, so the fields are
// counted from the last ')'.
func parseStatCPU(stat []byte) (float64, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("no command name")
	}
	rest := strings.Fields(string(stat[end+1:]))
	// rest[0] is field 3 (state), so field n is rest[n-3].
	if len(rest) < 13 {
		return 0, fmt.Errorf("%d fields after the command name", len(rest))
	}
	utime, err1 := strconv.ParseUint(rest[14-3], 10, 64)
	stime, err2 := strconv.ParseUint(rest[15-3], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("utime %q stime %q", rest[11], rest[12])
	}
	return float64(utime+stime) / clockTicks, nil
}

// parseStatus reads the numeric fields of /proc/PID/status; sizes ("1234 kB") come back in bytes.
func parseStatus(status []byte) map[string]int64 {
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		out[k] = n
	}
	return out
}

// RaiseFileLimit lifts this process's soft open-file limit to the hard limit (thousands of
// sockets need it) and returns the new soft limit.
func RaiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("bench: getrlimit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, fmt.Errorf("bench: setrlimit: %w", err)
		}
	}
	return lim.Cur, nil
}
