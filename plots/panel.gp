# panel.gp PANEL: draws one panel of vars.gp: its series (colour = layer, dash and mark = impl or
# peer), the points that did not run as marks on the x axis (stacked where several share a
# context, labelled with their status), title, y label and range.
pn = ARG1
set title value(pn.'_title')
set ylabel value(pn.'_ylabel')
call plotsdir.'/yrange.gp' pn
unset label
do for [i=1:value(pn.'_marks')] {
    m_s = word(value(pn.'_mark_status'), i)
    m_l = word(value(pn.'_mark_layer'), i)
    m_c = layer_color(m_l)
    m_x = word(value(pn.'_mark_x'), i) + 0
    m_y = 0.03 + 0.07 * word(value(pn.'_mark_k'), i)
    if (m_x < xmax) {
        set label (100 + i) m_l.' '.m_s at first m_x, graph m_y left offset 0.8, 0 \
            point pt mark_pt(m_s) ps 1.4 lc rgb m_c tc rgb m_c front font ',8'
    } else { # the last context: the label goes to the left of its mark, inside the frame
        set label (100 + i) m_l.' '.m_s at first m_x, graph m_y right offset -0.8, 0 \
            point pt mark_pt(m_s) ps 1.4 lc rgb m_c tc rgb m_c front font ',8'
    }
}
plot for [i=1:value(pn.'_n')] sprintf('%s/%s__%02d.dat', datadir, pn, i - 1) using 1:2 with linespoints \
         lc rgb layer_color(word(value(pn.'_layer'), i)) pt int(word(value(pn.'_pt'), i)) dt int(word(value(pn.'_dt'), i)) \
         title value(sprintf('%s__%02d_t', pn, i - 1)), \
     for [s in value(pn.'_mark_kinds')] keyentry with points pt mark_pt(s) lc 'black' title s.' (not measured)'
unset label
