from flask import Flask, render_template, request
from markupsafe import Markup

app = Flask(__name__)


@app.route("/preview", methods=["POST"])
def preview():
    comment = request.form["comment"]
    rendered = Markup("<blockquote>{}</blockquote>").format(comment)
    return render_template("preview.html", comment=rendered)
