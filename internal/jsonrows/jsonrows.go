// Package jsonrows reads query results whose one column is a JSON body,
// from database/sql and pgx alike: both stores keep subscriptions and
// delivery attempts that way.
package jsonrows

import (
	"context"
	"encoding/json"
)

// Rows is what *sql.Rows and pgx.Rows have in common.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// Query is how a store runs a read for code that both stores share: the
// rows of query, and a function that closes them.
type Query func(ctx context.Context, query string, args ...any) (rows Rows, close func(), err error)

// Bodies runs query with q and decodes each row's JSON body into a T.
func Bodies[T any](ctx context.Context, q Query, query string, args ...any) ([]*T, error) {
	rows, closeRows, err := q(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer closeRows()
	return Decode[T](rows)
}

// Decode reads every row's JSON body into a T. The caller closes rows.
func Decode[T any](rows Rows) ([]*T, error) {
	var out []*T
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		v := new(T)
		if err := json.Unmarshal(body, v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
