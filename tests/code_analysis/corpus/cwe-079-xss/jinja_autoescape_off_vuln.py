from flask import Flask, request
from jinja2 import Environment, FileSystemLoader

app = Flask(__name__)
env = Environment(loader=FileSystemLoader("templates"), autoescape=False)  # expect: CWE-79


@app.route("/profile")
def profile():
    bio = request.args.get("bio", "")
    return env.get_template("profile.html").render(bio=bio)
