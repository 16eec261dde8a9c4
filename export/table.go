package export

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Format is how Streams, Calls and PSTN write their rows.
type Format int

const (
	CSV     Format = iota // a header row, then one line a row
	Parquet               // one file, Snappy-compressed, typed columns, each nullable or notNull as its list says
)

// ParseFormat reads --format: "csv" or "parquet".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "csv":
		return CSV, nil
	case "parquet":
		return Parquet, nil
	}
	return 0, fmt.Errorf("the format is csv or parquet, not %q", s)
}

// Ext is the file name extension of the format, with its dot.
func (f Format) Ext() string {
	if f == Parquet {
		return ".parquet"
	}
	return ".csv"
}

// kind is a column's type in Parquet; in CSV every column is text.
type kind int

const (
	text      kind = iota
	integer        // Parquet INT64
	integer32      // Parquet INT32: the streams' positions, as their file has always typed them
	decimal        // Parquet DOUBLE: Graph's Edm.Decimal values (a charge) fit a double's 15 digits
	instant        // Parquet TIMESTAMP(NANOS, UTC): Graph's times have seven decimals
	boolean        // Parquet BOOLEAN
)

type column struct {
	name    string
	kind    kind
	notNull bool // nullable or notNull
}

// Whether a column may be empty. A notNull column is Parquet REQUIRED, a
// nullable one OPTIONAL; an empty cell in a notNull column is written as
// its kind's zero (a zero time as 0, the Unix epoch, as the stores keep it).
const (
	nullable = false
	notNull  = true
)

// A cell is one value of a row: a string, an int64, a bool, a float64, a
// *float64 (nil: empty), a time.Time (zero: empty), nil (empty), or a
// json.RawMessage holding a JSON scalar as Graph sent it (CSV writes it as
// sent, Parquet converts it to its column's kind).
type cell = any

// table writes rows of the same columns as CSV or Parquet, so that both
// formats come from one list of columns.
type table interface {
	row([]cell) error
	close() error
}

func newTable(f Format, name string, cols []column, w io.Writer) (table, error) {
	if f == Parquet {
		return newParquetTable(name, cols, w), nil
	}
	cw := csv.NewWriter(w)
	header := make([]string, len(cols))
	for i, c := range cols {
		header[i] = c.name
	}
	if err := cw.Write(header); err != nil {
		return nil, err
	}
	return &csvTable{w: cw, rec: make([]string, len(cols))}, nil
}

type csvTable struct {
	w   *csv.Writer
	rec []string
}

func (t *csvTable) row(cells []cell) error {
	if len(cells) != len(t.rec) {
		return fmt.Errorf("a row of %d cells for %d columns", len(cells), len(t.rec))
	}
	for i, v := range cells {
		t.rec[i] = cellText(v)
	}
	return t.w.Write(t.rec)
}

func (t *csvTable) close() error {
	t.w.Flush()
	return t.w.Error()
}

// cellText is a cell as CSV text: a JSON string unquoted, a JSON number or
// boolean as written, null and absent empty, a float in the fewest digits
// that read back as it.
func cellText(v cell) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case *float64:
		if v == nil {
			return ""
		}
		return strconv.FormatFloat(*v, 'g', -1, 64)
	case time.Time:
		return timeText(v)
	case json.RawMessage:
		return scalarText(v)
	}
	return ""
}

type parquetTable struct {
	w     *parquet.GenericWriter[any]
	cols  []column
	index []int // each column's leaf index in the file's schema
	rows  []parquet.Row
}

// parquetBatch is how many rows are handed to the writer at once.
const parquetBatch = 1024

// newParquetTable writes cols, in their order, optional unless notNull. The
// schema is made from a struct type built for it (reflect.StructOf):
// parquet-go keeps a struct's field order, where a parquet.Group would sort
// the columns by name.
func newParquetTable(name string, cols []column, w io.Writer) *parquetTable {
	fields := make([]reflect.StructField, len(cols))
	for i, c := range cols {
		var typ reflect.Type
		tag := c.name
		switch c.kind {
		case integer:
			typ = reflect.TypeFor[int64]()
		case integer32:
			typ = reflect.TypeFor[int32]()
		case decimal:
			typ = reflect.TypeFor[float64]()
		case instant:
			typ = reflect.TypeFor[int64]()
			tag += ",timestamp(nanosecond)"
		case boolean:
			typ = reflect.TypeFor[bool]()
		default:
			typ = reflect.TypeFor[string]()
		}
		if !c.notNull {
			typ = reflect.PointerTo(typ)
			tag += ",optional"
		}
		fields[i] = reflect.StructField{Name: fmt.Sprintf("C%d", i), Type: typ, Tag: reflect.StructTag(`parquet:"` + tag + `"`)}
	}
	schema := parquet.NewSchema(name, parquet.SchemaOf(reflect.New(reflect.StructOf(fields)).Elem().Interface()))
	t := &parquetTable{w: parquet.NewGenericWriter[any](w, schema, parquet.Compression(&parquet.Snappy)), cols: cols, index: make([]int, len(cols))}
	for i, c := range cols {
		leaf, _ := schema.Lookup(c.name)
		t.index[i] = leaf.ColumnIndex
	}
	return t
}

func (t *parquetTable) row(cells []cell) error {
	if len(cells) != len(t.cols) {
		return fmt.Errorf("a row of %d cells for %d columns", len(cells), len(t.cols))
	}
	r := make(parquet.Row, len(t.cols))
	for i, v := range cells {
		col, c := t.index[i], &t.cols[i]
		pv, ok := parquetValue(c.kind, v)
		if ok && pv.Kind() != c.kind.physical() {
			return fmt.Errorf("column %s: a %T cell is not a %v", c.name, v, c.kind.physical())
		}
		switch {
		case c.notNull && !ok:
			r[col] = parquet.ZeroValue(c.kind.physical()).Level(0, 0, col)
		case c.notNull:
			r[col] = pv.Level(0, 0, col)
		case ok:
			r[col] = pv.Level(0, 1, col)
		default:
			r[col] = parquet.NullValue().Level(0, 0, col)
		}
	}
	t.rows = append(t.rows, r)
	if len(t.rows) == parquetBatch {
		return t.flush()
	}
	return nil
}

func (t *parquetTable) flush() error {
	_, err := t.w.WriteRows(t.rows)
	t.rows = t.rows[:0]
	return err
}

func (t *parquetTable) close() error {
	if err := t.flush(); err != nil {
		return err
	}
	return t.w.Close()
}

// parquetValue converts a cell to its column's kind; ok is false for an
// empty cell, and for a JSON value that is not of the column's kind (a
// stored row is Graph's, and a null is truer than a guess).
func parquetValue(k kind, v cell) (parquet.Value, bool) {
	if raw, isRaw := v.(json.RawMessage); isRaw {
		if len(raw) == 0 || string(raw) == "null" {
			return parquet.Value{}, false
		}
		switch k {
		case integer:
			n, err := strconv.ParseInt(string(raw), 10, 64)
			return parquet.Int64Value(n), err == nil
		case integer32:
			n, err := strconv.ParseInt(string(raw), 10, 32)
			return parquet.Int32Value(int32(n)), err == nil
		case decimal:
			f, err := strconv.ParseFloat(string(raw), 64)
			return parquet.DoubleValue(f), err == nil
		case boolean:
			return parquet.BooleanValue(string(raw) == "true"), string(raw) == "true" || string(raw) == "false"
		case instant:
			var t time.Time
			if json.Unmarshal(raw, &t) != nil {
				return parquet.Value{}, false
			}
			v = t
		default:
			v = scalarText(raw)
		}
	}
	switch v := v.(type) {
	case string:
		return parquet.ByteArrayValue([]byte(v)), true
	case int64:
		if k == integer32 {
			return parquet.Int32Value(int32(v)), v == int64(int32(v))
		}
		return parquet.Int64Value(v), true
	case bool:
		return parquet.BooleanValue(v), true
	case float64:
		return parquet.DoubleValue(v), true
	case *float64:
		if v == nil {
			return parquet.Value{}, false
		}
		return parquet.DoubleValue(*v), true
	case time.Time:
		if v.IsZero() {
			return parquet.Value{}, false
		}
		return parquet.Int64Value(v.UnixNano()), true
	}
	return parquet.Value{}, false
}

// physical is the Parquet type of a column of the kind.
func (k kind) physical() parquet.Kind {
	switch k {
	case integer, instant:
		return parquet.Int64
	case integer32:
		return parquet.Int32
	case decimal:
		return parquet.Double
	case boolean:
		return parquet.Boolean
	}
	return parquet.ByteArray
}

// joinList is a list of strings as one cell: joined with ";", as the
// streams' PoorDueTo is.
func joinList(s []string) string { return strings.Join(s, ";") }
