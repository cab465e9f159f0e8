from flask import Flask, make_response, request

app = Flask(__name__)


@app.route("/notice")
def notice():
    message = request.args.get("msg", "")
    return make_response("<div class='notice'>" + message + "</div>")  # expect: CWE-79
