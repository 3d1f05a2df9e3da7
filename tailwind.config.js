/** Tailwind builds static/css/app.css from the classes used in views (and the
 * colour names Go code hands to them). Rebuild with `make css`. */
module.exports = {
  content: ["./views/**/*.templ", "./views/**/*.go", "./static/js/**/*.js"],
  darkMode: "media",
  theme: {
    extend: {
      fontFamily: {
        sans: ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"],
        mono: ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
      },
    },
  },
  plugins: [require("@tailwindcss/forms")],
};
