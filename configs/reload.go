package configs

import (
	"reflect"
	"time"
)

// RestartKeys lists the keys (as in default.yaml, e.g. "cluster.address") whose values differ
// between c and next, apps aside: a reload (SIGHUP) applies the apps alone, and says which other
// changes wait for a restart rather than leave them unnoticed.
func (c *Config) RestartKeys(next *Config) []string {
	return changedKeys(reflect.ValueOf(*c), reflect.ValueOf(*next), "", map[string]bool{"apps": true})
}

func changedKeys(a, b reflect.Value, prefix string, skip map[string]bool) []string {
	var out []string
	for i := range a.NumField() {
		f := a.Type().Field(i)
		tag := f.Tag.Get("koanf")
		if tag == "" || skip[prefix+tag] {
			continue
		}
		fa, fb := a.Field(i), b.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() {
			out = append(out, changedKeys(fa, fb, prefix+tag+".", skip)...)
			continue
		}
		if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			out = append(out, prefix+tag)
		}
	}
	return out
}
