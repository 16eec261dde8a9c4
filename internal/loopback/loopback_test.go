package loopback

import "testing"

func TestPostgresURL(t *testing.T) {
	for _, ok := range []string{
		"postgres://root@127.0.0.1:5432/x?sslmode=disable",
		"postgresql://127.0.0.1/x",
		"postgres://[::1]:5432/x",
		"postgres://127.0.0.1:5432,127.0.0.2:5433/x",
		"postgres://127.0.0.1/x?host=127.0.0.1",
	} {
		if err := PostgresURL(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{
		"postgres://localhost/x",
		"postgres://192.0.2.7/x",
		"postgres://127.0.0.1,192.0.2.7/x",
		"postgres://127.0.0.1/x?host=192.0.2.7",
		"postgres://127.0.0.1/x?hostaddr=192.0.2.7",
		"postgres:///x?host=/var/run/postgresql",
		"postgres:///x",
		"host=127.0.0.1 dbname=x",
		"http://127.0.0.1/x",
	} {
		if err := PostgresURL(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
