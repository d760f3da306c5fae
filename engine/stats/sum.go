package stats

import (
	"math/big"
	"strings"

	"github.com/govalues/decimal"
)

// Sum adds exact decimals and never rounds: it holds the sum as a 19-digit
// decimal while it fits, and as a big integer at the largest scale added
// once it does not. The zero Sum is 0.
type Sum struct {
	d     decimal.Decimal
	big   *big.Int // the sum's unscaled digits at scale, once d overflowed
	scale int      // the largest scale added
	n     int64    // how many values were added
}

// Add adds d to the sum.
func (s *Sum) Add(d decimal.Decimal) {
	s.n++
	if s.big == nil {
		scale := max(s.scale, d.Scale())
		if r, err := s.d.AddExact(d, scale); err == nil {
			s.d, s.scale = r, scale
			return
		}
		s.big = unscaled(s.d, s.scale)
	}
	if d.Scale() > s.scale {
		s.big = rescale(s.big, s.scale, d.Scale())
		s.scale = d.Scale()
	}
	s.big.Add(s.big, unscaled(d, s.scale))
}

// AddInt adds an integer to the sum.
func (s *Sum) AddInt(i int64) {
	s.Add(decimal.MustNew(i, 0))
}

// Count returns how many values were added.
func (s *Sum) Count() int64 { return s.n }

// Scale returns the largest scale of the values added.
func (s *Sum) Scale() int { return s.scale }

// String formats the sum with at least scale decimal places (and all
// those of the values added): "1234.50", "-0.75", "0.00".
func (s *Sum) String(scale int) string {
	scale = max(scale, s.scale)
	var n *big.Int
	if s.big == nil {
		n = unscaled(s.d, scale)
	} else {
		n = rescale(s.big, s.scale, scale)
	}
	digits := new(big.Int).Abs(n).String()
	if scale > 0 {
		if len(digits) <= scale {
			digits = strings.Repeat("0", scale-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if n.Sign() < 0 {
		return "-" + digits
	}
	return digits
}

// unscaled returns d's digits at scale (at least d's own).
func unscaled(d decimal.Decimal, scale int) *big.Int {
	n := new(big.Int).SetUint64(d.Coef())
	if d.Sign() < 0 {
		n.Neg(n)
	}
	return rescale(n, d.Scale(), scale)
}

// rescale returns the digits n at scale from moved to scale to (to >= from).
func rescale(n *big.Int, from, to int) *big.Int {
	if to == from {
		return new(big.Int).Set(n)
	}
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(to-from)), nil)
	return p.Mul(p, n)
}
