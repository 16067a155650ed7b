// The release checks' own tools (modproxy here, apidiff for .ci/apidiff): no user
// module requires this one, and it is not in go.work, so its requirements
// never reach a user's or the workspace's build list.
module fanoutci

go 1.26.0

require golang.org/x/mod v0.43.0

require (
	golang.org/x/exp v0.0.0-20261113113407-e3970619a1a4 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/tools v0.52.1-0.20261106145633-d407941a339a // indirect
)

tool golang.org/x/exp/cmd/apidiff
