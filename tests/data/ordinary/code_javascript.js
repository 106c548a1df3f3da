// Debounce: call fn at most once per `wait` ms, with the latest arguments.
export function debounce(fn, wait = 200) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn.apply(this, args), wait);
  };
}

const routes = { '/': 'home', '/about': "about", '/users/:id': `user` };
const html = `<ul>${Object.keys(routes).map(r => `<li data-route="${r}">${routes[r]}</li>`).join('')}</ul>`;
if (routes['/'] !== 'home' || !html.includes('<li')) { throw new Error("routes broken; see [docs]"); }
console.log(html.length > 0 ? html : null);
