package appsource

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/herald-io/herald/configs"
)

func TestDecodeRow(t *testing.T) {
	d := newDecoder(configs.Default())
	base := configs.DefaultApp("7", "k7", "s7")
	custom := base
	custom.ClientEvents, custom.CacheTTL, custom.Limits.MaxConnections = false, 10*time.Minute, 5
	custom.AllowedOrigins = []string{"https://example.com"}
	custom.Webhooks = []configs.Webhook{{URL: "http://127.0.0.1:9/h", EventTypes: []string{"member_added"}}}
	disabled := base
	disabled.Enabled = false
	for _, tc := range []struct {
		name, options string
		enabled       bool
		want          *configs.App
		err           string
	}{
		{name: "no options: the default app", options: `{}`, enabled: true, want: &base},
		{name: "options over the defaults", enabled: true, want: &custom, options: `{"client_events": false, "cache_ttl": "10m",
			"limits": {"max_connections": 5}, "allowed_origins": ["https://example.com"],
			"webhooks": [{"url": "http://127.0.0.1:9/h", "event_types": ["member_added"]}]}`},
		{name: "disabled", options: `{}`, want: &disabled},
		{name: "unknown option", options: `{"client_event": true}`, err: "client_event"},
		{name: "unknown limit", options: `{"limits": {"max_conections": 1}}`, err: "max_conections"},
		{name: "a column in options", options: `{"secret": "x"}`, err: `"secret" is a column`},
		{name: "a fraction for a count", options: `{"limits": {"max_connections": 1.5}}`, err: "max_connections"},
		{name: "a number for a duration", options: `{"cache_ttl": 600}`, err: `write it as a string such as "30s"`},
		{name: "a limit out of range", options: `{"limits": {"max_event_data_size": 0}}`, err: "app.limits.max_event_data_size 0"},
		{name: "a bad webhook", options: `{"webhooks": [{"url": "ftp://x"}]}`, err: "app.webhooks[0]"},
		{name: "not an object", options: `[1]`, err: "options"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app, err := d.decode(row{id: "7", key: "k7", secret: "s7", enabled: tc.enabled, options: []byte(tc.options)})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(app, *tc.want) {
				t.Fatalf("got  %+v\nwant %+v", app, *tc.want)
			}
		})
	}
}
