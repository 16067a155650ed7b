package main

import (
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/fanout-go/fanout/internal/harness"
)

var nodeColors = []color.RGBA{
	{0xd6, 0x27, 0x28, 0xff}, // s0
	{0x1f, 0x77, 0xb4, 0xff}, // c0
	{0x2c, 0xa0, 0x2c, 0xff}, // c1
	{0x94, 0x67, 0xbd, 0xff}, // c2
}

var faultColor = color.RGBA{0x99, 0x99, 0x99, 0xff}

// plot draws the run second by second, one panel above the other:
// deliveries per second, p99 publish-to-delivery latency, and each node's
// RSS, with each fault's start as a dashed line.
func (r *runState) plot(path string) error {
	panels := []*plot.Plot{plot.New(), plot.New(), plot.New()}
	titles := []string{"deliveries/s (checked by clients; nodes' Stats.Delivered dashed)", "p99 publish → delivery (fast readers), ms", "RSS per node, MiB"}
	for i, p := range panels {
		p.Title.Text = titles[i]
		p.Title.TextStyle.Font.Size = vg.Points(10)
		p.X.Label.Text = "seconds since publishing started"
		p.Add(plotter.NewGrid())
	}
	line := func(p *plot.Plot, pts plotter.XYs, c color.Color, dashed bool, w float64) (*plotter.Line, error) {
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		l.Color, l.Width = c, vg.Points(w)
		if dashed {
			l.Dashes = []vg.Length{vg.Points(3), vg.Points(2)}
		}
		p.Add(l)
		return l, nil
	}
	var deliv, server, p99 plotter.XYs
	maxY := []float64{1, 1, 1}
	for _, x := range r.series {
		deliv = append(deliv, plotter.XY{X: x.T, Y: x.Deliv})
		server = append(server, plotter.XY{X: x.T, Y: x.Server})
		p99 = append(p99, plotter.XY{X: x.T, Y: x.P99.Seconds() * 1e3})
		maxY[0] = max(maxY[0], x.Deliv, x.Server)
		maxY[1] = max(maxY[1], x.P99.Seconds()*1e3)
	}
	if len(r.series) < 2 {
		return nil
	}
	if _, err := line(panels[0], deliv, color.Black, false, 1); err != nil {
		return err
	}
	if _, err := line(panels[0], server, color.RGBA{0xff, 0x7f, 0x0e, 0xff}, true, 1); err != nil {
		return err
	}
	if _, err := line(panels[1], p99, color.Black, false, 1); err != nil {
		return err
	}
	for i, n := range r.nodes {
		var pts plotter.XYs
		for _, x := range r.series {
			pts = append(pts, plotter.XY{X: x.T, Y: x.RSS[n.name]})
			maxY[2] = max(maxY[2], x.RSS[n.name])
		}
		l, err := line(panels[2], pts, nodeColors[i%len(nodeColors)], false, 1.5)
		if err != nil {
			return err
		}
		panels[2].Legend.Add(n.name, l)
	}
	panels[2].Legend.Top, panels[2].Legend.Left = true, true
	for i, p := range panels {
		p.Y.Min, p.Y.Max = 0, maxY[i]*1.1
		for _, f := range r.faults.done {
			l, err := plotter.NewLine(plotter.XYs{{X: f.Start, Y: 0}, {X: f.Start, Y: maxY[i] * 1.1}})
			if err != nil {
				return err
			}
			l.Color, l.Dashes = faultColor, []vg.Length{vg.Points(2), vg.Points(2)}
			p.Add(l)
			if i == 0 {
				labels, err := plotter.NewLabels(plotter.XYLabels{XYs: []plotter.XY{{X: f.Start, Y: maxY[i] * 1.05}}, Labels: []string{f.Kind}})
				if err != nil {
					return err
				}
				for j := range labels.TextStyle {
					labels.TextStyle[j].Font.Size = vg.Points(7)
					labels.TextStyle[j].Rotation = -1.5708
				}
				p.Add(labels)
			}
		}
	}
	w, h := vg.Points(900), vg.Points(820)
	img := vgimg.New(w, h)
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	tiles := draw.Tiles{Rows: 3, Cols: 1, PadX: vg.Millimeter * 3, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
	grid := [][]*plot.Plot{{panels[0]}, {panels[1]}, {panels[2]}}
	canvases := plot.Align(grid, tiles, dc)
	for i := range grid {
		grid[i][0].Draw(canvases[i][0])
	}
	return harness.WriteFile(path, vgimg.PngCanvas{Canvas: img})
}
