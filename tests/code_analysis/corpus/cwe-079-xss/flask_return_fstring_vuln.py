from flask import Flask, request

app = Flask(__name__)


@app.route("/search")
def search():
    q = request.args.get("q", "")
    return f"<h2>Results for {q}</h2><p>No matches found.</p>"  # expect: CWE-79
