package bench

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/herald-io/herald/bench/pusherclient"
)

// Target is one server under test.
type Target struct {
	Name string `json:"name"`
	WS   string `json:"ws"`   // WebSocket base, such as ws://127.0.0.1:6001
	HTTP string `json:"http"` // HTTP API base, such as http://127.0.0.1:6001
	App  pusherclient.App
	PID  int `json:"pid,omitempty"` // the server process, for CPU and RSS; 0 when unknown
}

// Validate checks the target is complete and on loopback: the bench never loads anything else.
func (t Target) Validate() error {
	if t.WS == "" || t.HTTP == "" {
		return fmt.Errorf("bench: target %q needs ws and http URLs", t.Name)
	}
	if t.App.ID == "" || t.App.Key == "" || t.App.Secret == "" {
		return fmt.Errorf("bench: target %q needs app id, key and secret", t.Name)
	}
	for _, raw := range []string{t.WS, t.HTTP} {
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
// with any field missing taken from def.
func ParseTarget(spec string, def Target) (Target, error) {
	t := def
	for _, part := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return t, fmt.Errorf("bench: target field %q is not key=value", part)
		}
		switch k {
		case "name":
			t.Name = v
		case "ws":
			t.WS = v
		case "http":
			t.HTTP = v
		case "pid":
			n, err := strconv.Atoi(v)
			if err != nil {
				return t, fmt.Errorf("bench: target pid %q: %w", v, err)
			}
			t.PID = n
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
	if t.Name == "" {
		t.Name = t.WS
	}
	return t, t.Validate()
}
