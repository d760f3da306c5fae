package kafka

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/govalues/decimal"
	"github.com/twmb/franz-go/pkg/kgo"

	"pipeline/engine/schema"
)

// ledger is the schema of the codec tests: one column of each kind, two nullable.
var ledger = schema.MustNew("ledger", []schema.Column{
	{Name: "id", Type: schema.IntType},
	{Name: "amount", Type: schema.MoneyType},
	{Name: "rate", Type: schema.DecimalType},
	{Name: "name", Type: schema.StringType},
	{Name: "day", Type: schema.DateType},
	{Name: "at", Type: schema.Type{Kind: schema.DateTime, Nullable: true}},
	{Name: "ok", Type: schema.BoolType},
	{Name: "ref", Type: schema.Type{Kind: schema.Int, Nullable: true}},
}, "id")

func ledgerCodec(t testing.TB) *codec {
	t.Helper()
	c, err := newCodec(ledger, "id")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	day1 = time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)
	at1  = time.Date(2024, 2, 29, 13, 14, 15, 0, time.UTC)
)

func TestEncode(t *testing.T) {
	c := ledgerCodec(t)
	tests := []struct {
		row       schema.Row
		value     string
		key       string
		keyed     bool
		decodedAs schema.Row // when decoding does not give row back
	}{
		{
			row:   schema.Row{7, decimal.MustParse("12.5"), decimal.MustParse("0.000123456789012345"), "Zoë \"the\" <b>\n\t\x01", day1, at1, true, 99},
			value: `{"id":"7","amount":"12.50","rate":"0.000123456789012345","name":"Zoë \"the\" <b>\n\t\u0001","day":"2024-02-29","at":"2024-02-29 13:14:15","ok":"true","ref":"99"}`,
			key:   "7", keyed: true,
			decodedAs: schema.Row{7, decimal.MustParse("12.50"), decimal.MustParse("0.000123456789012345"), "Zoë \"the\" <b>\n\t\x01", day1, at1, true, 99},
		},
		{
			row:   schema.Row{-1, 3, decimal.MustParse("-9999999999999999.99"), "", day1, nil, false, nil},
			value: `{"id":"-1","amount":"3.00","rate":"-9999999999999999.99","name":"","day":"2024-02-29","at":null,"ok":"false","ref":null}`,
			key:   "-1", keyed: true,
			decodedAs: schema.Row{-1, decimal.MustParse("3.00"), decimal.MustParse("-9999999999999999.99"), "", day1, nil, false, nil},
		},
		{
			row:   schema.Row{1, decimal.MustParse("0.005"), decimal.MustParse("1"), "bad \xff utf8 \u2028", day1, at1, true, 0},
			value: `{"id":"1","amount":"0.00","rate":"1","name":"bad \ufffd utf8 \u2028","day":"2024-02-29","at":"2024-02-29 13:14:15","ok":"true","ref":"0"}`,
			key:   "1", keyed: true,
			decodedAs: schema.Row{1, decimal.MustParse("0.00"), decimal.MustParse("1"), "bad \ufffd utf8 \u2028", day1, at1, true, 0},
		},
	}
	for i, tc := range tests {
		if err := c.check(tc.row); err != nil {
			t.Fatalf("row %d: check: %v", i, err)
		}
		value, _ := c.appendValue(nil, nil, tc.row)
		if string(value) != tc.value {
			t.Errorf("row %d: value\n%s\nwant\n%s", i, value, tc.value)
		}
		if !json.Valid(value) {
			t.Errorf("row %d: value is not valid JSON", i)
		}
		key, keyed := c.appendKey(nil, tc.row)
		if string(key) != tc.key || keyed != tc.keyed {
			t.Errorf("row %d: key %q %v, want %q %v", i, key, keyed, tc.key, tc.keyed)
		}
		row, err := c.decode(value)
		if err != nil || !sameRow(row, tc.decodedAs) {
			t.Errorf("row %d: decoded as %s, %v, want %s", i, show(row), err, show(tc.decodedAs))
		}
	}
	// No key column, and a null key: no record key.
	noKey, err := newCodec(events, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, keyed := noKey.appendKey(nil, eventRows(1, 1)[0]); keyed {
		t.Error("a codec without a key column keyed a record")
	}
	byRef, err := newCodec(ledger, "ref")
	if err != nil {
		t.Fatal(err)
	}
	if _, keyed := byRef.appendKey(nil, tests[1].row); keyed {
		t.Error("a null key column keyed a record")
	}
	if _, err := newCodec(ledger, "nope"); err == nil || err.Error() != `key column "nope" is not one of its columns (id, amount, rate, name, day, at, ok, ref)` {
		t.Errorf("newCodec with an unknown key: %v", err)
	}
}

func TestDecode(t *testing.T) {
	c := ledgerCodec(t)
	full := schema.Row{7, decimal.MustParse("12.50"), decimal.MustParse("1.5"), "x", day1, at1, true, 99}
	tests := []struct {
		name    string
		payload string
		row     schema.Row // nil when err is set
		err     string
	}{
		{"ours", `{"id":"7","amount":"12.50","rate":"1.5","name":"x","day":"2024-02-29","at":"2024-02-29 13:14:15","ok":"true","ref":"99"}`, full, ""},
		{"legacy all strings", `{"id": "7", "amount": "12.5", "rate": "1.5", "name": "x", "day": "2024-02-29", "at": "2024-02-29 13:14:15", "ok": "True", "ref": "99"}`, full, ""},
		{"legacy empty is null", `{"id":"7","amount":"12.5","rate":"1.5","name":"","day":"2024-02-29","at":"","ok":"0","ref":""}`,
			schema.Row{7, decimal.MustParse("12.50"), decimal.MustParse("1.5"), "", day1, nil, false, nil}, ""},
		{"numbers and bools", `{"id":7,"amount":12.5,"rate":1.50,"name":42,"day":"2024-02-29","at":"2024-02-29T13:14:15","ok":true,"ref":99}`,
			schema.Row{7, decimal.MustParse("12.50"), decimal.MustParse("1.50"), "42", day1, at1, true, 99}, ""},
		{"exact decimals", `{"id":1,"amount":0.1,"rate":123456789.123456789,"name":"","day":"2024-02-29","ok":false}`,
			schema.Row{1, decimal.MustParse("0.10"), decimal.MustParse("123456789.123456789"), "", day1, nil, false, nil}, ""},
		{"nulls", `{"id":"7","amount":"1","rate":"1","name":"x","day":"2024-02-29","at":null,"ok":"no","ref":null}`,
			schema.Row{7, decimal.MustParse("1.00"), decimal.MustParse("1"), "x", day1, nil, false, nil}, ""},
		{"missing nullable and extra fields", ` {"extra":{"deep":[1,2,{"x":null}]},"id":"7","amount":"1","rate":"1","name":"x","day":"2024-02-29","ok":"yes","ID":"8"} `,
			schema.Row{7, decimal.MustParse("1.00"), decimal.MustParse("1"), "x", day1, nil, true, nil}, ""},
		{"duplicate field, last wins", `{"id":"1","id":"2","amount":"1","rate":"1","name":"x","day":"2024-02-29","ok":"1"}`,
			schema.Row{2, decimal.MustParse("1.00"), decimal.MustParse("1"), "x", day1, nil, true, nil}, ""},
		{"escapes", `{"id":"1","amount":"1","rate":"1","name":"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00","day":"2024-02-29","ok":"1"}`,
			schema.Row{1, decimal.MustParse("1.00"), decimal.MustParse("1"), "a\"\\/\b\f\n\r\té😀", day1, nil, true, nil}, ""},

		{"missing fields", `{"amount":"1","rate":"1","day":"2024-02-29","ok":"1"}`, nil,
			`field "id" is missing; field "name" is missing`},
		{"null in a column that is not nullable", `{"id":null,"amount":"1","rate":"1","name":null,"day":"2024-02-29","ok":"1"}`, nil,
			`field "id": null in a column that is not nullable; field "name": null in a column that is not nullable`},
		{"legacy empty in a column that is not nullable", `{"id":"","amount":"1","rate":"1","name":"","day":"2024-02-29","ok":"1"}`, nil,
			`field "id": empty value in a column that is not nullable`},
		{"wrong types", `{"id":"7x","amount":"12,50","rate":true,"name":{},"day":"2024-02-30","at":"noon","ok":"maybe","ref":1.5}`, nil,
			`field "id": "7x" is not an integer; field "amount": "12,50" is not a decimal number; field "rate": "true" is not a decimal number; ` +
				`field "name": a JSON object is not a value of a string column (want a string, number or boolean); field "day": "2024-02-30" is not a date (want YYYY-MM-DD); ` +
				`field "at": "noon" is not a datetime (want YYYY-MM-DD HH:MM:SS); field "ok": "maybe" is not a boolean (want true or false); field "ref": "1.5" is not an integer`},
		{"array value", `{"id":[7],"amount":"1","rate":"1","name":"x","day":"2024-02-29","ok":"1"}`, nil,
			`field "id": a JSON array is not a value of a int column (want a string, number or boolean)`},
		{"number too big for int", `{"id":99999999999999999999,"amount":"1","rate":"1","name":"x","day":"2024-02-29","ok":"1"}`, nil,
			`field "id": "99999999999999999999" is not an integer`},
		{"not JSON", `id=7,amount=1`, nil, "payload is not JSON: invalid character 'i' looking for beginning of value"},
		{"legacy CSV text", `7,12.50,x`, nil, "payload is not JSON: data after the top-level value"},
		{"truncated", `{"id":"7","amount":`, nil, "payload is not JSON: it ends in the middle of a value"},
		{"trailing data", `{"id":"7"} {"id":"8"}`, nil, "payload is not JSON: data after the top-level value"},
		{"trailing comma", `{"id":"7",}`, nil, "payload is not JSON: invalid character '}' looking for beginning of object key string"},
		{"array", `[{"id":"7"}]`, nil, "payload is a JSON array, want a JSON object"},
		{"string", `"7"`, nil, "payload is a JSON string, want a JSON object"},
		{"number", `7`, nil, "payload is a JSON number, want a JSON object"},
		{"null", `null`, nil, "payload is JSON null, want a JSON object"},
		{"empty", ``, nil, "payload is empty, want a JSON object"},
		{"blank", " \n\t", nil, "payload is empty, want a JSON object"},
		{"oversized", `{"name":"` + strings.Repeat("x", MaxPayload) + `"}`, nil,
			"payload of 1048587 bytes is over the limit of 1048576 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			row, err := c.decode([]byte(tc.payload))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err || row != nil {
					t.Fatalf("decode = %s, %v\nwant error %s", show(row), err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !sameRow(row, tc.row) {
				t.Fatalf("decode = %s, want %s", show(row), show(tc.row))
			}
			for i, v := range row {
				if (v == nil) != (tc.row[i] == nil) {
					t.Fatalf("column %s = %v, want %v", ledger.Columns[i].Name, v, tc.row[i])
				}
			}
		})
	}
}

func TestDecodeErrorUnwraps(t *testing.T) {
	c := ledgerCodec(t)
	_, err := c.decode([]byte(`{"id":"","amount":"1","rate":"1","name":"","day":"2024-02-29","ok":"1"}`))
	if !errors.Is(err, schema.ErrNull) {
		t.Fatalf("error %v does not wrap schema.ErrNull", err)
	}
}

func TestDecodeExactlyAtLimit(t *testing.T) {
	c := ledgerCodec(t)
	head := `{"id":"1","amount":"1","rate":"1","day":"2024-02-29","ok":"1","name":"`
	payload := head + strings.Repeat("y", MaxPayload-len(head)-2) + `"}`
	if len(payload) != MaxPayload {
		t.Fatalf("payload is %d bytes", len(payload))
	}
	row, err := c.decode([]byte(payload))
	if err != nil || len(row[3].(string)) != MaxPayload-len(head)-2 {
		t.Fatalf("decode of a payload of exactly MaxPayload bytes: %v", err)
	}
}

// TestDecodeBatch decodes a batch big enough to be split across CPUs: every
// message keeps its record's place, source and payload, and an undecodable
// record among good ones gets its error.
func TestDecodeBatch(t *testing.T) {
	c := &consumer{topic: &Topic{name: "ledger", codec: ledgerCodec(t)}}
	const n = 3*minParallelDecode + 7
	recs := make([]*kgo.Record, n)
	for i := range recs {
		v := fmt.Sprintf(`{"id":"%d","amount":"1.00","rate":"2","name":"n","day":"2024-02-29","at":null,"ok":"true","ref":null}`, i)
		if i%1000 == 999 {
			v = `{"id":`
		}
		recs[i] = &kgo.Record{Topic: "ledger", Partition: int32(i % 3), Offset: int64(i), Value: []byte(v)}
	}
	msgs := c.decode(recs)
	if len(msgs) != n {
		t.Fatalf("%d messages, want %d", len(msgs), n)
	}
	for i, m := range msgs {
		if m.Source.Offset != int64(i) || m.Source.Partition != int32(i%3) || string(m.Payload) != string(recs[i].Value) {
			t.Fatalf("message %d: source %v, payload %q", i, m.Source, m.Payload)
		}
		if bad := i%1000 == 999; bad != (m.Err != nil) || bad != (m.Row == nil) {
			t.Fatalf("message %d: row %v, error %v", i, m.Row, m.Err)
		}
		if m.Row != nil && m.Row[0] != i {
			t.Fatalf("message %d: id %v", i, m.Row[0])
		}
	}
}
