from flask import Flask, make_response, render_template, request

app = Flask(__name__)


@app.route("/notice")
def notice():
    message = request.args.get("msg", "")
    return make_response(render_template("notice.html", message=message))
