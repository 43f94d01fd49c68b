package appsource

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"

	"github.com/herald-io/herald/configs"
)

// row is one row of herald_apps as read.
type row struct {
	id, key, secret string
	enabled         bool
	options         []byte // JSON object
}

// columns are the keys of an app that have a column, not a place in options.
var columns = []string{"id", "key", "secret", "enabled"}

// decoder turns rows into apps: the default app's settings (default.yaml), with the row's
// credentials and options over them, checked as a config file's app is.
type decoder struct {
	base       *configs.Config // the node's config: what an app is validated in
	defaultApp configs.App
}

func newDecoder(base *configs.Config) decoder {
	app := configs.Default().Apps[0]
	app.ID, app.Key, app.Secret, app.Webhooks = "", "", "", []configs.Webhook{} // never inherited, as in a file
	return decoder{base: base, defaultApp: app}
}

func (d decoder) decode(r row) (configs.App, error) {
	app := d.defaultApp
	var options map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.options))
	dec.UseNumber() // so that 1.5 is refused where a whole number belongs, not cut to 1
	if err := dec.Decode(&options); err != nil {
		return app, fmt.Errorf("options: %w", err)
	}
	for _, c := range columns {
		if _, ok := options[c]; ok {
			return app, fmt.Errorf("options: %q is a column of its own", c)
		}
	}
	md, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		TagName:     "koanf",
		Result:      &app,
		ErrorUnused: true, // a misspelt option is an error, not a default silently kept
		ZeroFields:  true, // a list in options replaces the default's, never extends it
		DecodeHook:  durationHook,
	})
	if err != nil {
		return app, err
	}
	if err := md.Decode(options); err != nil {
		return app, fmt.Errorf("options: %w", err)
	}
	app.ID, app.Key, app.Secret, app.Enabled = r.id, r.key, r.secret, r.enabled
	cfg := *d.base
	cfg.Apps = []configs.App{app}
	if err := cfg.Validate(); err != nil {
		// The messages name the app as the only one of a config: name the row instead.
		return app, errors.New(strings.ReplaceAll(err.Error(), "apps[0]", "app"))
	}
	return app, nil
}

// durationHook reads durations as default.yaml writes them ("30s", "10m"); a bare number would
// be nanoseconds, never what a row means.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[time.Duration]() {
		return data, nil
	}
	s, ok := data.(string)
	if !ok {
		return nil, fmt.Errorf("duration %v: write it as a string such as \"30s\" or \"10m\"", data)
	}
	return time.ParseDuration(s)
}
