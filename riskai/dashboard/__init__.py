"""The risk dashboard: a Streamlit app over the warehouse and the metrics of any release.

``riskai dashboard`` runs ``streamlit run riskai/dashboard/app.py``; the reads live in ``data``
(plain functions, testable without Streamlit), the charts in ``charts``, the colours in ``palette``.
"""
