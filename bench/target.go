package bench

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/herald-io/herald/bench/pusherclient"
)

// Target is one server under test: one process, or a cluster of several nodes.
type Target struct {
	Name string `json:"name"`
	// WS is the WebSocket base of each node, such as ws://127.0.0.1:6001. With several (a
	// cluster), sockets are spread over them round-robin.
	WS   []string `json:"ws"`
	HTTP string   `json:"http"` // HTTP API base (any one node), such as http://127.0.0.1:6001
	App  pusherclient.App
	// PIDs are the server's processes (one per node), whose CPU time and RSS are summed; none
	// when unknown.
	PIDs []int `json:"pids,omitempty"`
}

// wsURL is the WebSocket URL the i-th socket connects to: the nodes in turn.
func (t Target) wsURL(i int) string {
	return t.App.WebSocketURL(t.WS[i%len(t.WS)])
}

// Validate checks the target is complete and on loopback: the bench never loads anything else.
func (t Target) Validate() error {
	if len(t.WS) == 0 || t.HTTP == "" {
		return fmt.Errorf("bench: target %q needs ws and http URLs", t.Name)
	}
	if t.App.ID == "" || t.App.Key == "" || t.App.Secret == "" {
		return fmt.Errorf("bench: target %q needs app id, key and secret", t.Name)
	}
	for _, raw := range append([]string{t.HTTP}, t.WS...) {
		u, err := url.Parse(raw)
		if err != nil {
			return fmt.Errorf("bench: target %q: %w", t.Name, err)
		}
		ip := net.ParseIP(u.Hostname())
		if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("bench: target %q: %s is not a loopback address; the bench only loads 127.0.0.1", t.Name, raw)
		}
	}
	return nil
}

// ParseTarget reads "name=herald,ws=ws://...,http=http://...,pid=123,app-id=..,key=..,secret=.."
// with any field missing taken from def. ws and pid may repeat, for a cluster:
// "name=cluster,ws=ws://127.0.0.1:6001,ws=ws://127.0.0.1:6002,pid=11,pid=12,http=...".
func ParseTarget(spec string, def Target) (Target, error) {
	t := def
	var ws []string
	var pids []int
	for _, part := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return t, fmt.Errorf("bench: target field %q is not key=value", part)
		}
		switch k {
		case "name":
			t.Name = v
		case "ws":
			ws = append(ws, v)
		case "http":
			t.HTTP = v
		case "pid":
			n, err := strconv.Atoi(v)
			if err != nil {
				return t, fmt.Errorf("bench: target pid %q: %w", v, err)
			}
			pids = append(pids, n)
		case "app-id", "app_id", "id":
			t.App.ID = v
		case "key":
			t.App.Key = v
		case "secret":
			t.App.Secret = v
		default:
			return t, fmt.Errorf("bench: unknown target field %q", k)
		}
	}
	if ws != nil {
		t.WS = ws
	}
	if pids != nil {
		t.PIDs = pids
	}
	if t.Name == "" && len(t.WS) > 0 {
		t.Name = t.WS[0]
	}
	return t, t.Validate()
}
