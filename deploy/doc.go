// Package deploy holds what runs orb-sync: the Dockerfile, compose,
// Kubernetes manifests, Prometheus rules and the Grafana dashboard. It has
// no code; its tests check those files against the binary (no container
// engine needed): every file parses, env names, ports, probe paths and the
// entrypoint match the code, every alert has a promtool unit test and a
// runbook, and every metric a rule or panel names is one a real serve
// exports.
package deploy
