"""HTML reports: Jinja2 templates with Plotly figures, JavaScript embedded so they open offline."""
