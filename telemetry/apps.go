package telemetry

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// appSourceMetrics measure where the apps come from: the config file and the apps database.
type appSourceMetrics struct {
	apps         metric.Int64Gauge
	up           metric.Int64Gauge
	errors       metric.Int64Counter
	fileOpts     measurementOpts
	databaseOpts measurementOpts
}

func (s *appSourceMetrics) init(meter metric.Meter) error {
	var e1, e2, e3 error
	s.apps, e1 = meter.Int64Gauge("herald.apps", metric.WithUnit("{app}"),
		metric.WithDescription("Apps this node serves, by source: the config file or the apps database."))
	s.up, e2 = meter.Int64Gauge("herald.apps.database.up",
		metric.WithDescription("1 while the apps database answers, 0 while it does not (the apps already read are served)."))
	s.errors, e3 = meter.Int64Counter("herald.apps.database.errors", metric.WithUnit("{error}"),
		metric.WithDescription("Failed connections, notifications and reads of the apps database."))
	s.fileOpts, s.databaseOpts = bind(attribute.String("source", "file")), bind(attribute.String("source", "database"))
	return errors.Join(e1, e2, e3)
}

// SetApps sets herald_apps{source}: how many apps the node serves from the config file and
// from the apps database.
func (m *Metrics) SetApps(file, database int) {
	if m == nil {
		return
	}
	m.appSources.apps.Record(context.Background(), int64(file), m.appSources.fileOpts.record...)
	m.appSources.apps.Record(context.Background(), int64(database), m.appSources.databaseOpts.record...)
}

// SetAppsDatabaseUp sets herald_apps_database_up.
func (m *Metrics) SetAppsDatabaseUp(up bool) {
	if m == nil {
		return
	}
	v := int64(0)
	if up {
		v = 1
	}
	m.appSources.up.Record(context.Background(), v)
}

// AddAppsDatabaseError counts herald_apps_database_errors_total.
func (m *Metrics) AddAppsDatabaseError() {
	if m != nil {
		m.appSources.errors.Add(context.Background(), 1)
	}
}
