// Package appsource keeps a node's apps current while it runs. Set merges the apps of the config
// file (read again on SIGHUP) with those of a PostgreSQL table (Postgres: created by schema.sql,
// followed by LISTEN/NOTIFY and a periodic full read) and hands the node the whole list in one
// call whenever it changes. Lookups never wait on the database: the node serves the list it was
// last given, through a database outage too.
//
// It imports only configs, besides pgx: the node is reached through the function Set applies.
package appsource
