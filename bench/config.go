package bench

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Scenarios the harness knows, in the order the help lists them.
var Scenarios = []string{"connect", "fanout", "channels", "presence", "rooms", "client-events"}

// scenarioSummaries is each scenario's one line in the help.
var scenarioSummaries = map[string]string{
	"connect":       "open sockets (each on a public channel), hold them idle: connect latency, RSS per socket",
	"fanout":        "one channel, many subscribers, events through POST /events: delivery latency, loss, deliveries per CPU-s",
	"channels":      "many small channels, events spread with batch_events: the same figures per channel",
	"presence":      "members join one presence channel, then leave and rejoin: member_added latency, complete views",
	"rooms":         "users in many presence rooms: join, then churn (unsubscribe/resubscribe, reconnect); exact views",
	"client-events": "pairs of sockets exchange client events on private channels",
}

// ScenarioSummary is the scenario's one-line description ("" for an unknown one).
func ScenarioSummary(scenario string) string { return scenarioSummaries[scenario] }

// Config holds every scenario's parameters; each scenario reads the fields its doc names.
type Config struct {
	// Connections is how many sockets connect opens.
	Connections int `json:"connections,omitempty"`
	// ConnectRate paces new sockets per second in every scenario's setup (0: as fast as
	// ConnectConcurrency allows); ConnectConcurrency bounds handshakes in flight.
	ConnectRate        float64 `json:"connect_rate,omitempty"`
	ConnectConcurrency int     `json:"connect_concurrency,omitempty"`
	// Subscribers is the subscriber count of fanout's one channel, or of each channel in
	// channels.
	Subscribers int `json:"subscribers,omitempty"`
	// Channels is the channel count of channels, and the public channels connect spreads its
	// sockets over (0: connect does not subscribe).
	Channels int `json:"channels,omitempty"`
	// Rate is events per second: triggered in fanout and channels (in total), sent by each
	// socket in client-events.
	Rate float64 `json:"rate,omitempty"`
	// Payload is the event data size in bytes (at least the ~40-byte marker).
	Payload int `json:"payload,omitempty"`
	// Duration is the send phase of fanout, channels and client-events, and how long connect
	// holds its sockets idle before measuring memory.
	Duration time.Duration `json:"duration,omitempty"`
	// Drain is how long to wait after the last send for deliveries still in flight.
	Drain time.Duration `json:"drain,omitempty"`
	// Batch is how many events channels sends per batch_events request (0 or 1: /events).
	Batch int `json:"batch,omitempty"`
	// HTTPWorkers bounds trigger requests in flight.
	HTTPWorkers int `json:"http_workers,omitempty"`
	// Members joins presence; Observers of them (the first to join) parse every member_added
	// for latency and loss; JoinConcurrency bounds subscribes in flight (JoinRate paces them
	// when > 0). Then ChurnRate members per second leave and rejoin for ChurnDuration.
	Members         int           `json:"members,omitempty"`
	Observers       int           `json:"observers,omitempty"`
	JoinConcurrency int           `json:"join_concurrency,omitempty"`
	JoinRate        float64       `json:"join_rate,omitempty"`
	ChurnRate       float64       `json:"churn_rate,omitempty"`
	ChurnDuration   time.Duration `json:"churn_duration,omitempty"`
	// Pairs of sockets exchange client events in client-events.
	Pairs int `json:"pairs,omitempty"`
	// Users sockets (one user each) join Rooms presence channels in rooms, each user
	// RoomsPerUser of them (user i: rooms (i*RoomsPerUser + j) mod Rooms), JoinConcurrency users
	// at a time (JoinRate paces them when > 0). Then for ChurnDuration, ChurnRate users per second
	// rejoin: a share ReconnectShare of them by closing the socket and opening a new one that
	// subscribes to all its rooms at once (a page reload), the others by unsubscribing from one
	// room and subscribing again. At most ChurnConcurrency rejoins are in flight: one that would
	// exceed it is skipped (and counted), so a slow server gets fewer, not a longer run.
	ChurnConcurrency int     `json:"churn_concurrency,omitempty"`
	Users            int     `json:"users,omitempty"`
	Rooms            int     `json:"rooms,omitempty"`
	RoomsPerUser     int     `json:"rooms_per_user,omitempty"`
	ReconnectShare   float64 `json:"reconnect_share"`
	// Timeout bounds the whole run, setup included.
	Timeout time.Duration `json:"timeout,omitempty"`
	// Progress, when set, receives a progress line about once a second.
	Progress func(line string) `json:"-"`
}

// DefaultConfig is a modest load each scenario finishes in well under a minute.
func DefaultConfig() Config {
	return Config{
		Connections: 1000, ConnectRate: 2000, ConnectConcurrency: 100,
		Subscribers: 1000, Channels: 0, Rate: 20, Payload: 100,
		Duration: 10 * time.Second, Drain: 5 * time.Second, Batch: 10, HTTPWorkers: 32,
		Members: 1000, Observers: 10, JoinConcurrency: 50, ChurnRate: 20, ChurnDuration: 5 * time.Second,
		Pairs: 100, Users: 1000, Rooms: 100, RoomsPerUser: 2, ReconnectShare: 0.5, ChurnConcurrency: 200, Timeout: 5 * time.Minute,
	}
}

func (c Config) validate(scenario string) error {
	if !slices.Contains(Scenarios, scenario) {
		return fmt.Errorf("bench: unknown scenario %q (want one of %s)", scenario, strings.Join(Scenarios, ", "))
	}
	const maxSockets = 200000
	switch {
	case c.Timeout <= 0 || c.Timeout > 2*time.Hour:
		return fmt.Errorf("bench: timeout %v must be in (0, 2h]", c.Timeout)
	case c.Duration < 0 || c.Drain < 0 || c.ChurnDuration < 0:
		return fmt.Errorf("bench: durations must not be negative")
	case c.ConnectConcurrency <= 0 || c.HTTPWorkers <= 0 || c.JoinConcurrency <= 0:
		return fmt.Errorf("bench: concurrency limits must be positive")
	case c.Connections > maxSockets || c.Subscribers*max(c.Channels, 1) > maxSockets || c.Members > maxSockets || c.Pairs*2 > maxSockets || c.Users > maxSockets:
		return fmt.Errorf("bench: more than %d sockets", maxSockets)
	case c.Batch > 100:
		return fmt.Errorf("bench: batch %d > 100", c.Batch)
	}
	switch scenario {
	case "connect":
		if c.Connections <= 0 {
			return fmt.Errorf("bench: connect needs connections > 0")
		}
	case "fanout", "channels":
		if c.Subscribers <= 0 || c.Rate <= 0 || c.Duration <= 0 {
			return fmt.Errorf("bench: %s needs subscribers, rate and duration > 0", scenario)
		}
		if scenario == "channels" && c.Channels <= 0 {
			return fmt.Errorf("bench: channels needs channels > 0")
		}
	case "presence":
		if c.Members <= 0 {
			return fmt.Errorf("bench: presence needs members > 0")
		}
	case "rooms":
		switch {
		case c.Users <= 0 || c.Rooms <= 0 || c.RoomsPerUser <= 0:
			return fmt.Errorf("bench: rooms needs users, rooms and rooms-per-user > 0")
		case c.RoomsPerUser > c.Rooms:
			return fmt.Errorf("bench: rooms-per-user %d > rooms %d", c.RoomsPerUser, c.Rooms)
		case c.RoomsPerUser > 64:
			return fmt.Errorf("bench: rooms-per-user %d > 64", c.RoomsPerUser)
		case c.ReconnectShare < 0 || c.ReconnectShare > 1:
			return fmt.Errorf("bench: reconnect-share %v must be in [0, 1]", c.ReconnectShare)
		case c.ChurnRate < 0:
			return fmt.Errorf("bench: churn-rate must not be negative")
		case c.ChurnConcurrency <= 0:
			return fmt.Errorf("bench: churn-concurrency must be positive")
		}
	case "client-events":
		if c.Pairs <= 0 || c.Rate <= 0 || c.Duration <= 0 {
			return fmt.Errorf("bench: client-events needs pairs, rate and duration > 0")
		}
	}
	return nil
}

func describeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Date: time.Now().UTC().Format(time.RFC3339)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ScenarioConfig is DefaultConfig with the scenario's own defaults: connect 1,000 sockets over
// 10 channels; fanout 1,000 subscribers at 20 events/s; channels 1,000 channels x 10
// subscribers at 1,000 events/s in batches of 10; presence 1,000 members; rooms 1,000 users in
// 100 rooms of 20 (2 rooms each), then 20 rejoins/s for 10 s; client-events 100 pairs at 10
// events/s per socket.
func ScenarioConfig(scenario string) Config {
	c := DefaultConfig()
	switch scenario {
	case "connect":
		c.Channels, c.Duration = 10, 3*time.Second
	case "channels":
		c.Channels, c.Subscribers, c.Rate = 1000, 10, 1000
	case "client-events":
		c.Rate = 10
	case "rooms":
		c.ChurnDuration = 10 * time.Second
	}
	return c
}
