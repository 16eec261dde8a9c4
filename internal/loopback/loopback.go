// Package loopback holds the check that the bench commands run before they
// open a PostgreSQL database: load, soak and scale runs stay on this
// machine.
package loopback

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// PostgresURL refuses raw unless it is a postgres:// URL whose every host
// is a loopback IP literal (127.0.0.0/8 or ::1): the hosts of the URL's
// authority, which may list several, and those of a host or hostaddr
// parameter, which pgx takes instead. Names, even "localhost", are refused:
// what a name resolves to is not up to the program. A keyword/value
// connection string is refused too.
func PostgresURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("the database URL: %v", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return errors.New("the database must be given as a postgres:// URL")
	}
	hosts := strings.Split(u.Host, ",")
	for _, p := range []string{"host", "hostaddr"} {
		for _, v := range u.Query()[p] {
			hosts = append(hosts, strings.Split(v, ",")...)
		}
	}
	for _, h := range hosts {
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
		h = strings.Trim(h, "[]")
		ip, err := netip.ParseAddr(h)
		if err != nil || !ip.Unmap().IsLoopback() {
			return fmt.Errorf("the database host %q is not a loopback IP literal (127.0.0.1 or ::1): only this machine's server may be used", h)
		}
	}
	return nil
}
