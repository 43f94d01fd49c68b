// Package deploy holds the tests of herald's deployment files: the container image, the Helm
// chart, the Grafana dashboard and the Prometheus alert rules.
package deploy
