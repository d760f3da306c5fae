package spec

import (
	"testing"

	"pipeline/engine/yamldoc"
)

var refPos = yamldoc.Pos{File: "s.yaml", Line: 4, Col: 11}

func str(s string) yamldoc.String { return yamldoc.String{Value: s, Pos: refPos} }

func TestParseRef(t *testing.T) {
	const how = " is not a reference: write connector:name, e.g. db:orders or files:data/orders.csv"
	tests := []struct {
		in   string
		want Ref
		err  string
	}{
		{in: "db:cards", want: Ref{Connector: "db", Name: "cards"}},
		{in: "files:data/cards.csv", want: Ref{Connector: "files", Name: "data/cards.csv"}},
		{in: "files:../out/x y.csv", want: Ref{Connector: "files", Name: "../out/x y.csv"}},
		{in: "_my-conn2:t", want: Ref{Connector: "_my-conn2", Name: "t"}},
		{in: "db::x", want: Ref{Connector: "db", Name: ":x"}},
		{in: "files:C:/data/x.csv", want: Ref{Connector: "files", Name: "C:/data/x.csv"}},
		{in: "db:cards[tx.card_id]", want: Ref{Connector: "db", Name: "cards[tx.card_id]"}},

		{in: "", err: `""` + how},
		{in: "cards", err: `"cards"` + how},
		{in: "db:", err: `"db:"` + how},
		{in: ":cards", err: `":cards"` + how},
		{in: "2db:cards", err: `"2db:cards"` + how},
		{in: "-db:cards", err: `"-db:cards"` + how},
		{in: "my db:cards", err: `"my db:cards"` + how},
		{in: " db:cards", err: `" db:cards"` + how},
		{in: "db:a\nb", err: `"db:a\nb"` + how},
	}
	for _, tt := range tests {
		got, err := ParseRef(str(tt.in))
		if errText(err) != tt.err {
			t.Errorf("ParseRef(%q) error:\n got %v\nwant %s", tt.in, err, tt.err)
			continue
		}
		if tt.err == "" {
			tt.want.Pos = refPos
		}
		if got != tt.want {
			t.Errorf("ParseRef(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
		if tt.err == "" && got.String() != tt.in {
			t.Errorf("ParseRef(%q).String() = %q", tt.in, got.String())
		}
	}
}

func TestParseLookup(t *testing.T) {
	const how = " is not a lookup: write connector:table[record.field], e.g. db:accounts[order.account_id]"
	tests := []struct {
		in   string
		want LookupRef
		err  string
	}{
		{in: "db:cards[tx.card_id]", want: LookupRef{Ref: Ref{Connector: "db", Name: "cards"}, KeyRecord: "tx", KeyField: "card_id"}},
		{in: "db:cards[ tx.card_id ]", want: LookupRef{Ref: Ref{Connector: "db", Name: "cards"}, KeyRecord: "tx", KeyField: "card_id"}},
		{in: "mem-1:_t2[_r.f9]", want: LookupRef{Ref: Ref{Connector: "mem-1", Name: "_t2"}, KeyRecord: "_r", KeyField: "f9"}},

		{in: "", err: `""` + how},
		{in: "db:cards", err: `"db:cards"` + how},
		{in: "db:cards[]", err: `"db:cards[]"` + how},
		{in: "db:cards[card_id]", err: `"db:cards[card_id]"` + how},
		{in: "db:cards[tx.card.id]", err: `"db:cards[tx.card.id]"` + how},
		{in: "db:cards[tx.card_id", err: `"db:cards[tx.card_id"` + how},
		{in: "db:cards[tx.card_id] ", err: `"db:cards[tx.card_id] "` + how},
		{in: "db:my-cards[tx.card_id]", err: `"db:my-cards[tx.card_id]"` + how},
		{in: "db:data/cards.csv[tx.card_id]", err: `"db:data/cards.csv[tx.card_id]"` + how},
		{in: "cards[tx.card_id]", err: `"cards[tx.card_id]"` + how},
		{in: "db:cards[1tx.card_id]", err: `"db:cards[1tx.card_id]"` + how},
		{in: "db:cards[tx.card_id + 1]", err: `"db:cards[tx.card_id + 1]"` + how},
	}
	for _, tt := range tests {
		got, err := ParseLookup(str(tt.in))
		if errText(err) != tt.err {
			t.Errorf("ParseLookup(%q) error:\n got %v\nwant %s", tt.in, err, tt.err)
			continue
		}
		if tt.err == "" {
			tt.want.Pos = refPos
		}
		if got != tt.want {
			t.Errorf("ParseLookup(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}
