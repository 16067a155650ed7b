package main

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/fanout-go/fanout/internal/harness"
)

// peerStyle gives each peer the same color and dashes in every panel; the
// fanout rows are drawn thicker.
var peerColors = map[string]color.RGBA{
	"go-sse":           {0x8c, 0x56, 0x4b, 0xff},
	"gorilla":          {0x1f, 0x77, 0xb4, 0xff},
	"coder":            {0x2c, 0xa0, 0x2c, 0xff},
	"melody":           {0x94, 0x67, 0xbd, 0xff},
	"limit":            {0x7f, 0x7f, 0x7f, 0xff},
	"fanout-hub":       {0xd6, 0x27, 0x28, 0xff},
	"fanout-hub-b1":    {0xff, 0x98, 0x96, 0xff},
	"fanout-broker":    {0xff, 0x7f, 0x0e, 0xff},
	"fanout-broker-b1": {0xff, 0xbb, 0x78, 0xff},
}

type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

// plotSweep draws, for each burst level (columns), p99 latency (top row)
// and delivered messages per second (bottom row) against the number of
// subscribers: one line per peer at the median, with bars for the spread.
func plotSweep(path, caption string, levels []level, peers []peer, subs, bursts []int) error {
	rows := []struct {
		fig    figure
		label  string
		scale  float64
		format func(float64) string
	}{
		{figP99, "p99 latency", 1, fmtSeconds},
		{figDeliv, "delivered messages/s", 1, fmtSI},
	}
	tick := levels[0].cfg.Tick
	var offered *plotter.Line
	legend := plot.NewLegend()
	legend.TextStyle.Font.Size = vg.Points(10)
	plots := make([][]*plot.Plot, len(rows))
	for ri, row := range rows {
		plots[ri] = make([]*plot.Plot, len(bursts))
		for bi, burst := range bursts {
			p := plot.New()
			p.Title.Text = fmt.Sprintf("%s, bursts of %d", row.label, burst)
			p.Title.TextStyle.Font.Size = vg.Points(10)
			p.X.Label.Text = "subscribers"
			p.X.Tick.Marker = subsTicks(subs)
			p.Y.Scale = plot.LogScale{}
			p.Y.Tick.Marker = ticks125{row.format}
			p.Y.Label.Text = row.label
			p.Add(plotter.NewGrid())
			if row.fig == figDeliv { // what the publisher offers: the ceiling
				var off plotter.XYs
				for _, n := range subs {
					off = append(off, plotter.XY{X: float64(n), Y: float64(n*burst) / tick.Seconds()})
				}
				l, err := plotter.NewLine(off)
				if err != nil {
					return err
				}
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
				l.Color = color.Black
				p.Add(l)
				if bi == 0 {
					offered = l
				}
			}
			for _, pe := range peers {
				var pts errPoints
				for _, n := range subs {
					for _, l := range levels {
						if l.cfg.Subs != n || l.cfg.Burst != burst {
							continue
						}
						for _, s := range summarize([]peer{pe}, l.results) {
							v := s.get(row.fig)
							if v.Med <= 0 || v.Min <= 0 {
								continue
							}
							pts.XYs = append(pts.XYs, plotter.XY{X: float64(n), Y: v.Med * row.scale})
							pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{
								(v.Med - v.Min) * row.scale, (v.Max - v.Med) * row.scale})
						}
					}
				}
				if len(pts.XYs) == 0 {
					continue
				}
				line, points, err := plotter.NewLinePoints(pts.XYs)
				if err != nil {
					return err
				}
				c := peerColors[pe.Name]
				line.Color, points.Color = c, c
				line.Width = vg.Points(1.2)
				if len(pe.Name) >= 6 && pe.Name[:6] == "fanout" {
					line.Width = vg.Points(2.4)
				}
				points.Shape = draw.CircleGlyph{}
				points.Radius = vg.Points(2)
				bars, err := plotter.NewYErrorBars(pts)
				if err != nil {
					return err
				}
				bars.Color = c
				p.Add(line, points, bars)
				if ri == 0 && bi == 0 {
					legend.Add(pe.Name, line, points)
				}
			}
			plots[ri][bi] = p
		}
	}
	const legendW, titleH = 130, 24
	w, h := vg.Points(float64(300*len(bursts)+legendW)), vg.Points(620)
	img := vgimg.New(w, h)
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	title := plot.New().Title.TextStyle
	title.Font.Size = vg.Points(12)
	title.Color = color.Black
	title.XAlign, title.YAlign = draw.XLeft, draw.YBottom
	dc.FillText(title, vg.Point{X: vg.Points(10), Y: h - vg.Points(titleH) + vg.Points(6)}, caption)
	panels := draw.Crop(dc, 0, -vg.Points(legendW), 0, -vg.Points(titleH))
	tiles := draw.Tiles{Rows: len(rows), Cols: len(bursts), PadX: vg.Millimeter * 2, PadY: vg.Millimeter * 2,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(plots, tiles, panels)
	for ri := range plots {
		for bi := range plots[ri] {
			plots[ri][bi].Draw(canvases[ri][bi])
		}
	}
	if offered != nil {
		legend.Add("offered", offered)
	}
	legend.Top, legend.Left = true, true
	legend.Draw(draw.Crop(dc, w-vg.Points(legendW), 0, 0, -vg.Points(titleH)-vg.Points(20)))
	return harness.WriteFile(path, vgimg.PngCanvas{Canvas: img})
}

// ticks125 marks a log axis at 1, 2 and 5 times each power of ten.
type ticks125 struct{ format func(float64) string }

func (t ticks125) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			out = append(out, plot.Tick{Value: v, Label: t.format(v)})
		}
	}
	if len(out) < 2 { // a narrow range: label its ends
		out = append(out, plot.Tick{Value: lo, Label: t.format(lo)}, plot.Tick{Value: hi, Label: t.format(hi)})
	}
	return out
}

// subsTicks marks the x axis at the subscriber levels of the sweep.
func subsTicks(subs []int) plot.ConstantTicks {
	t := make(plot.ConstantTicks, len(subs))
	for i, n := range subs {
		t[i] = plot.Tick{Value: float64(n), Label: fmt.Sprint(n)}
	}
	return t
}
