package main

import "testing"

func TestMemoryWatch(t *testing.T) {
	type step struct {
		now, recent     int
		free, inUse     uint64
		settle, release bool
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"quiet", []step{{now: 10, recent: 10}, {now: 12, recent: 12}}},
		{"a connect burst, then still: settle once", []step{
			{now: 2000, recent: 2000},
			{now: 4000, recent: 4000},
			{now: 4010, recent: 4010, settle: true, release: true},
			{now: 4010, recent: 4010},
		}},
		{"growth that goes on is not still", []step{
			{now: 1000, recent: 1000},
			{now: 1200, recent: 1200},
			{now: 1210, recent: 1210, settle: true, release: true},
		}},
		{"sockets leave: a quarter of the peak and the step", []step{
			{now: 1000, recent: 1000},
			{now: 1000, recent: 1000, settle: true, release: true},
			{now: 800, recent: 1000},
			{now: 700, recent: 800, release: true},
			{now: 700, recent: 700},
		}},
		{"a few leave: nothing", []step{{now: 100, recent: 100}, {now: 10, recent: 100}}},
		{"collected heap held", []step{{now: 5, recent: 5, free: 64 << 20, inUse: 8 << 20, release: true}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var w memoryWatch
			for i, s := range c.steps {
				settle, release := w.check(s.now, s.recent, s.free, s.inUse)
				if settle != s.settle || release != s.release {
					t.Fatalf("check %d (%d sockets): settle=%v release=%v, want %v %v", i, s.now, settle, release, s.settle, s.release)
				}
			}
		})
	}
}
